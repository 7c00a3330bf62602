"""The 0.169.0 client method table, as data.

``CLIENT_METHODS`` is the list upstream prints in its unknown-method error, in its order
(``Invalid request: unknown variant `foo`, expected one of `initialize`, …``; recorded from
the pinned binary's answer to an unknown method). It is every
``ClientRequest`` method of the generated schema plus three legacy v1 names the
deserializer still accepts (``getConversationSummary``, ``gitDiffToRemote``,
``getAuthStatus``). ``EXPERIMENTAL_METHODS`` are the ones only the ``--experimental``
schema lists: a connection must opt in with ``capabilities.experimentalApi`` to call them.
``EXPERIMENTAL_FIELDS`` are the params fields, per implemented method, that only the
experimental schema has; upstream refuses them (when set) without the capability.

tests/interop/test_builtin_schema.py checks this module against the schema the real binary
generates, so a drift shows up as a failing test.
"""

from __future__ import annotations

# One line per method: its stability, then its name, in upstream's order.
_TABLE = """
stable initialize
experimental server/diagnostics
experimental userVerification/status
experimental userVerification/enroll
experimental userVerification/delete
experimental userVerification/verify
experimental userVerification/cancel
stable thread/start
stable thread/resume
stable thread/fork
experimental thread/sample
experimental thread/sample/cancel
stable thread/archive
stable thread/delete
stable thread/unsubscribe
experimental thread/increment_elicitation
experimental thread/decrement_elicitation
stable thread/name/set
experimental thread/prediction/request
stable thread/goal/set
stable thread/goal/get
stable thread/goal/clear
experimental thread/queue/add
experimental thread/queue/list
experimental thread/queue/update
experimental thread/queue/delete
experimental thread/queue/reorder
experimental thread/queue/start
stable thread/metadata/update
stable thread/attachment/add
stable thread/attachment/list
stable thread/attachmentOwner/list
stable thread/attachment/remove
stable thread/section/move
experimental thread/settings/update
experimental thread/memoryMode/set
experimental thread/memory/read
experimental memory/status
experimental memory/reset
experimental rollout/compress
stable thread/unarchive
stable thread/compact/start
stable thread/shellCommand
stable thread/approveGuardianDeniedAction
experimental thread/backgroundTerminals/clean
experimental thread/backgroundTerminals/list
experimental thread/backgroundTerminals/terminate
stable thread/revert
stable thread/list
experimental project/list
experimental project/read
experimental project/create
experimental project/import
experimental project/update
experimental project/move
experimental project/delete
stable threadSection/list
stable threadSection/create
stable threadSection/update
stable threadSection/delete
experimental thread/search
experimental thread/searchOccurrences
stable thread/loaded/list
stable thread/read
experimental thread/readState/update
stable thread/turns/list
stable thread/items/list
experimental thread/items/read
experimental thread/guardianReview
stable thread/inject_items
experimental thread/prepareApprovedPlan
stable skills/list
stable skills/extraRoots/set
stable hooks/list
stable marketplace/add
stable marketplace/remove
stable marketplace/upgrade
stable plugin/list
experimental plugin/search
stable plugin/installed
stable plugin/reconcile
stable plugin/read
stable plugin/skill/read
stable plugin/share/save
stable plugin/share/updateTargets
stable plugin/share/list
stable plugin/share/checkout
stable plugin/share/delete
stable app/read
stable app/list
stable app/installed
stable fs/readFile
stable fs/writeFile
stable fs/createDirectory
stable fs/getMetadata
stable fs/readDirectory
stable fs/remove
stable fs/copy
stable fs/watch
stable fs/unwatch
stable skills/config/write
stable plugin/install
stable plugin/uninstall
stable turn/start
experimental turn/settings/update
stable turn/steer
stable turn/interrupt
experimental thread/realtime/start
experimental thread/realtime/appendAudio
experimental thread/realtime/appendText
experimental thread/realtime/appendSpeech
experimental thread/realtime/stop
experimental thread/timeline/list
experimental thread/realtime/listVoices
stable review/start
stable model/list
stable account/gatewayOAuth/read
stable account/gatewayOAuth/login
stable account/gatewayOAuth/cancel
stable modelProvider/list
stable modelProvider/config/write
stable modelProvider/capabilities/read
stable experimentalFeature/list
stable permissionProfile/list
stable experimentalFeature/enablement/set
experimental remoteControl/enable
experimental remoteControl/disable
experimental remoteControl/status/read
experimental remoteControl/pairing/start
experimental remoteControl/pairing/status
experimental remoteControl/client/list
experimental remoteControl/client/revoke
experimental collaborationMode/list
experimental mock/experimentalMethod
experimental environment/add
experimental environment/info
experimental environment/status
stable mcpServer/oauth/login
stable config/mcpServer/reload
stable mcpServerStatus/list
stable mcpServer/resource/read
experimental mcpServer/event/stream/start
experimental mcpServer/event/stream/stop
stable mcpServer/tool/call
stable windowsSandbox/setupStart
stable windowsSandbox/readiness
stable account/login/start
experimental account/bedrock/discover
experimental account/bedrock/setup
experimental account/gcp/setup
experimental account/bedrock/checkGovCloudRequirements
stable account/login/cancel
experimental accountSession/list
experimental accountSession/switch
stable account/logout
stable account/securitySetup/read
stable account/rateLimits/read
stable account/rateLimitResetCredit/consume
stable account/usage/read
stable account/workspaceMessages/read
stable account/sendAddCreditsNudgeEmail
stable feedback/upload
stable feedback/save
stable command/exec
stable command/exec/write
stable command/exec/terminate
stable command/exec/resize
experimental process/spawn
experimental process/writeStdin
experimental process/kill
experimental process/resizePty
stable config/read
stable externalAgentConfig/detect
stable externalAgentConfig/import
stable externalAgentConfig/import/recordHistory
stable externalAgentConfig/import/readHistories
stable config/value/write
stable config/batchWrite
stable configRequirements/read
stable account/read
stable getConversationSummary
stable gitDiffToRemote
stable getAuthStatus
stable fuzzyFileSearch
experimental fuzzyFileSearch/sessionStart
experimental fuzzyFileSearch/sessionUpdate
experimental fuzzyFileSearch/sessionStop
"""

_ROWS = [line.split() for line in _TABLE.strip().splitlines()]
CLIENT_METHODS: tuple[str, ...] = tuple(name for _, name in _ROWS)
EXPERIMENTAL_METHODS: frozenset[str] = frozenset(
    name for stability, name in _ROWS if stability == "experimental"
)

#: Legacy v1 method names the upstream deserializer accepts but the schema does not list.
LEGACY_METHODS: frozenset[str] = frozenset(
    {"getConversationSummary", "gitDiffToRemote", "getAuthStatus"}
)

#: Params fields of implemented methods that only the experimental schema has.
EXPERIMENTAL_FIELDS: dict[str, tuple[str, ...]] = {
    "thread/start": (
        "allowProviderModelFallback",
        "daybreakEnabled",
        "dynamicTools",
        "environments",
        "experimentalRawEvents",
        "historyMode",
        "mockExperimentalField",
        "multiAgentMode",
        "permissions",
        "projectId",
        "runtimeWorkspaceRoots",
        "selectedCapabilityRoots",
    ),
    "thread/resume": (
        "history",
        "initialTurnsPage",
        "path",
        "permissions",
        "runtimeWorkspaceRoots",
    ),
    "thread/fork": (
        "attachToSource",
        "beforeTurnId",
        "deferGoalContinuation",
        "experimentalDisablePredictionMcp",
        "experimentalPredictionMode",
        "path",
        "permissions",
        "runtimeWorkspaceRoots",
    ),
    "thread/list": (
        "ancestorThreadId",
        "attachedToThreadId",
        "includeAttachedThreads",
        "parentThreadId",
        "projectId",
    ),
    "turn/start": (
        "additionalContext",
        "collaborationMode",
        "cyberAccessProgram",
        "environments",
        "multiAgentMode",
        "permissions",
        "responsesapiClientMetadata",
        "responsesapiClientMetadataPatch",
        "runtimeWorkspaceRoots",
    ),
}

_EXPECTED = ", ".join(f"`{method}`" for method in CLIENT_METHODS)


def unknown_variant(method: str) -> str:
    """Upstream's text (after ``Invalid request: ``) for a method it does not know."""
    return f"unknown variant `{method}`, expected one of {_EXPECTED}"


def experimental_reason(method: str, params: object) -> str | None:
    """What needs ``experimentalApi`` in this call, as upstream names it, or ``None``.

    A method is named alone (``mock/experimentalMethod``); a field as ``method.field``
    (``thread/start.mockExperimentalField``). Fields count only when set: upstream's
    optional fields are ``None`` when absent or ``null``.
    """
    if method in EXPERIMENTAL_METHODS:
        return method
    fields = EXPERIMENTAL_FIELDS.get(method)
    if fields and isinstance(params, dict):
        for name in fields:
            if params.get(name) is not None:
                return f"{method}.{name}"
    return None
