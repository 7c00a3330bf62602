"""Every message the built-in backend emits validates against the real 0.169.0 schema.

The schema is generated in this test run by the pinned binary
(``codex app-server generate-json-schema --out DIR [--experimental]``). A scripted session
calls every implemented method and provokes every notification type and error path; each
emitted message is validated: responses against the method's response type (the schema
does not link them, so ``XxxParams`` maps to ``XxxResponse``), notifications against
``ServerNotification``, errors against ``JSONRPCError``. A shape drift fails the test.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator

from appserver import jsonrpc
from appserver.backends.builtin import BuiltinBackend, methods
from appserver.backends.builtin.events import NOTIFICATION_METHODS
from appserver.backends.builtin.handlers import HANDLERS
from tests.support.fake_peer import FakePeer
from tests.support import deadlines

pytestmark = pytest.mark.interop

BUNDLE = "codex_app_server_protocol.schemas.json"

#: Methods whose params are ``null``: the response type cannot be derived from the name.
NULL_PARAMS_RESPONSES = {
    "configRequirements/read": "#/definitions/v2/ConfigRequirementsReadResponse"
}


def _generate(codex_bin: str, out: Path, home: Path, *flags: str) -> dict[str, Any]:
    subprocess.run(
        [codex_bin, "app-server", "generate-json-schema", "--out", str(out), *flags],
        check=True,
        capture_output=True,
        timeout=deadlines.CODEX,
        env={"CODEX_HOME": str(home), "PATH": "/usr/bin:/bin"},
    )
    return json.loads((out / BUNDLE).read_text())


@pytest.fixture(scope="session")
def schemas(codex_bin: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    root = tmp_path_factory.mktemp("codex-schema")
    home = root / "home"
    home.mkdir(mode=0o700)
    return {
        "experimental": _generate(codex_bin, root / "experimental", home, "--experimental"),
        "stable": _generate(codex_bin, root / "stable", home),
    }


class Validators:
    """Validators for refs into one schema bundle, built once per ref."""

    def __init__(self, bundle: dict[str, Any]) -> None:
        self.definitions = bundle["definitions"]
        self._cache: dict[str, Draft7Validator] = {}
        self.responses: dict[str, str] = dict(NULL_PARAMS_RESPONSES)
        for alternative in self.definitions["ClientRequest"]["oneOf"]:
            method = alternative["properties"]["method"]["enum"][0]
            ref = alternative["properties"].get("params", {}).get("$ref", "")
            if ref.endswith("Params"):
                self.responses[method] = ref[: -len("Params")] + "Response"

    def errors(self, ref: str, instance: Any) -> list[str]:
        if ref not in self._cache:
            self._cache[ref] = Draft7Validator({"$ref": ref, "definitions": self.definitions})
        return [
            f"{'/'.join(map(str, e.absolute_path))}: {e.message[:300]}"
            for e in self._cache[ref].iter_errors(instance)
        ]


def _client_methods(bundle: dict[str, Any]) -> list[str]:
    return [
        a["properties"]["method"]["enum"][0]
        for a in bundle["definitions"]["ClientRequest"]["oneOf"]
    ]


def test_method_table_matches_generated_schema(schemas: dict[str, dict[str, Any]]) -> None:
    experimental = _client_methods(schemas["experimental"])
    stable = set(_client_methods(schemas["stable"]))
    assert [m for m in methods.CLIENT_METHODS if m not in methods.LEGACY_METHODS] == experimental
    assert methods.EXPERIMENTAL_METHODS == set(experimental) - stable
    for method, fields in methods.EXPERIMENTAL_FIELDS.items():
        params = {"experimental": {}, "stable": {}}
        for kind in params:
            ref = next(
                a["properties"]["params"]["$ref"]
                for a in schemas[kind]["definitions"]["ClientRequest"]["oneOf"]
                if a["properties"]["method"]["enum"][0] == method
            )
            node: Any = schemas[kind]
            for part in ref.removeprefix("#/").split("/"):
                node = node[part]
            params[kind] = set(node["properties"])
        assert set(fields) == params["experimental"] - params["stable"], method


class Recorder:
    """Runs a scripted session and validates every message a peer received."""

    def __init__(self, validators: Validators) -> None:
        self.v = validators
        self.pending: dict[tuple[int, Any], str] = {}
        self.ok_methods: set[str] = set()
        self.notifications: set[str] = set()
        self.error_codes: set[int] = set()
        self.server_requests: set[str] = set()
        self.failures: list[str] = []

    async def call(
        self, peer: FakePeer, session: Any, method: str, params: Any = None, **kw: Any
    ) -> dict[str, Any]:
        answer = await peer.call(session, method, params, **kw)
        self._check_answer(method, answer)
        return answer

    def _check_answer(self, method: str, answer: dict[str, Any]) -> None:
        if "error" in answer:
            self.error_codes.add(answer["error"]["code"])
            problems = self.v.errors("#/definitions/JSONRPCError", answer)
        else:
            self.ok_methods.add(method)
            problems = self.v.errors(self.v.responses[method], answer["result"])
        self.failures += [f"{method} answer: {p}" for p in problems]

    def check_notifications(self, peer: FakePeer) -> None:
        for message in peer.notifications():
            if "id" in message:  # a server request (the `!run` approval)
                self.server_requests.add(message["method"])
                self.failures += [
                    f"{message['method']} request: {p}"
                    for p in self.v.errors("#/definitions/ServerRequest", message)
                ]
                continue
            self.notifications.add(message["method"])
            self.failures += [
                f"{message['method']}: {p}"
                for p in self.v.errors("#/definitions/ServerNotification", message)
            ]


#: Placeholder for the id of the thread the bootstrap started.
THREAD = "<thread>"

#: The codex 0.169.0 TUI's bootstrap requests, in order, with the params it really sends
#: (``None``: no params member at all). ``thread/turns/list`` before the first turn is an
#: error path, like upstream's.
TUI_BOOTSTRAP: list[tuple[str, dict[str, Any] | None]] = [
    ("initialize", {
        "clientInfo": {"name": "codex-tui", "title": None, "version": "0.169.0"},
        "capabilities": {"requiredHumanApproval": True, "experimentalApi": True,
                         "requestAttestation": False, "optOutNotificationMethods": None},
    }),
    ("account/read", {}),
    ("model/list", {"modelProvider": None, "cursor": None, "limit": None, "includeHidden": True}),
    ("hooks/list", {"cwds": ["/work"], "threadId": None}),
    ("account/bedrock/checkGovCloudRequirements", {}),
    ("config/read", {"includeLayers": True, "cwd": "."}),
    ("config/read", {"cwd": None}),
    ("configRequirements/read", None),
    ("collaborationMode/list", {}),
    ("thread/start", {
        "model": None, "modelProvider": None, "cwd": None, "approvalPolicy": None,
        "sandbox": "read-only", "config": {}, "ephemeral": False, "historyMode": "paginated",
        "threadSource": "user", "dynamicTools": [], "mockExperimentalField": None,
    }),
    ("thread/list", {"limit": 100, "sortKey": "recency_at", "sourceKinds": [], "archived": False}),
    ("thread/loaded/list", {"cursor": None, "limit": None}),
    ("skills/list", {"cwds": ["/work"], "forceReload": True}),
    ("plugin/installed", {"cwds": ["/work"], "installSuggestionPluginNames": None}),
    ("thread/read", {"threadId": THREAD}),
    ("experimentalFeature/list", {"cursor": None, "limit": 100, "threadId": THREAD}),
    ("thread/turns/list", {"threadId": THREAD, "limit": 1}),
]  # fmt: skip


def _with_thread(params: dict[str, Any] | None, thread_id: str) -> dict[str, Any] | None:
    if params is None:
        return None
    return {key: thread_id if value == THREAD else value for key, value in params.items()}


@pytest.fixture
async def backend(tmp_path: Path) -> AsyncIterator[BuiltinBackend]:
    backend = BuiltinBackend(tmp_path)
    async with backend.running():
        yield backend


@pytest.mark.anyio
async def test_every_builtin_message_validates(
    schemas: dict[str, dict[str, Any]], backend: BuiltinBackend
) -> None:
    rec = Recorder(Validators(schemas["experimental"]))
    tui, tui_session = FakePeer(name="codex-tui"), None
    tui_session = await backend.open_session(tui)
    plain = FakePeer(experimental=False)
    plain_session = await backend.open_session(plain)
    call = rec.call

    # The TUI's bootstrap, in order, with its real params (TUI_BOOTSTRAP below).
    thread_id = ""
    for method, params in TUI_BOOTSTRAP:
        answer = await call(tui, tui_session, method, _with_thread(params, thread_id),
                            omit_params=params is None)
        if method == "thread/start":
            thread_id = answer["result"]["thread"]["id"]

    # A turn, then everything that reads it back.
    turn = await call(
        tui,
        tui_session,
        "turn/start",
        {
            "threadId": thread_id,
            "clientUserMessageId": "c1",
            "input": [{"type": "text", "text": "hello", "text_elements": []}],
        },
    )
    turn_id = turn["result"]["turn"]["id"]
    await tui.wait_for(lambda m: m.get("method") == "turn/completed")
    await call(
        tui,
        tui_session,
        "thread/readState/update",
        {"threadId": thread_id, "operation": {"type": "read"}, "expectedRevision": "r"},
    )
    await call(tui, tui_session, "thread/turns/list", {"threadId": thread_id, "itemsView": "full"})
    await call(tui, tui_session, "thread/read", {"threadId": thread_id, "includeTurns": True})
    await call(tui, tui_session, "turn/interrupt", {"threadId": thread_id, "turnId": turn_id})
    # The deterministic approval path: `!run CMD`, approved then declined.
    for decision in ("accept", "decline"):
        before = len(tui.notifications("turn/completed"))
        await call(
            tui,
            tui_session,
            "turn/start",
            {"threadId": thread_id, "input": [{"type": "text", "text": f"!run echo {decision}"}]},
        )
        ask = await tui.wait_for(
            lambda m: m.get("method") == "item/commandExecution/requestApproval"
            and m["params"]["command"] == f"echo {decision}"
        )
        answer = {"decision": decision}
        rec.failures += rec.v.errors(
            "#/definitions/CommandExecutionRequestApprovalResponse", answer
        )
        await tui_session.send(jsonrpc.Message.from_payload(jsonrpc.response(ask["id"], answer)))
        await tui.wait_for(lambda m: len(tui.notifications("turn/completed")) > before)
    await call(tui, tui_session, "thread/name/set", {"threadId": thread_id, "name": "A title"})
    await tui.wait_for(lambda m: m.get("method") == "thread/name/updated")

    # What `codex resume` and the TUI's attach read; the thread lifecycle.
    items = await call(tui, tui_session, "thread/items/list", {"threadId": thread_id, "limit": 2})
    assert len(items["result"]["data"]) == 2 and items["result"]["nextCursor"]
    await call(
        tui, tui_session, "thread/items/list",
        {"threadId": thread_id, "cursor": items["result"]["nextCursor"], "sortDirection": "asc"},
    )
    await call(tui, tui_session, "thread/archive", {"threadId": thread_id})
    await tui.wait_for(lambda m: m.get("method") == "thread/archived")
    archived = await call(tui, tui_session, "thread/list", {"archived": True})
    assert [t["id"] for t in archived["result"]["data"]] == [thread_id]
    await call(tui, tui_session, "thread/unarchive", {"threadId": thread_id})
    await tui.wait_for(lambda m: m.get("method") == "thread/unarchived")
    before = len(tui.notifications("turn/completed"))
    await call(tui, tui_session, "thread/compact/start", {"threadId": thread_id})
    await tui.wait_for(lambda m: len(tui.notifications("turn/completed")) > before)
    await tui.wait_for(lambda m: m.get("method") == "thread/compacted")

    # The title side thread: structured output on an ephemeral thread, then unsubscribe.
    side = await call(
        tui, tui_session, "thread/start", {"ephemeral": True, "threadSource": "thread_title"}
    )
    side_id = side["result"]["thread"]["id"]
    await call(
        tui,
        tui_session,
        "turn/start",
        {
            "threadId": side_id,
            "input": [{"type": "text", "text": "Title this:\nhello"}],
            "outputSchema": {
                "type": "object",
                "properties": {"title": {"type": "string", "maxLength": 36}},
                "required": ["title"],
                "additionalProperties": False,
            },
        },
    )
    await tui.wait_for(
        lambda m: m.get("method") == "turn/completed" and m["params"]["threadId"] == side_id
    )
    await call(tui, tui_session, "thread/unsubscribe", {"threadId": side_id})
    await call(tui, tui_session, "thread/unsubscribe", {"threadId": side_id})  # notLoaded now

    # A turn the agent cannot run (`required` is not a list) ends as codex's failed turns do.
    await call(
        tui,
        tui_session,
        "turn/start",
        {
            "threadId": thread_id,
            "input": [{"type": "text", "text": "hi"}],
            "outputSchema": {"type": "object", "properties": {}, "required": 5},
        },
    )
    failed = await tui.wait_for(
        lambda m: m.get("method") == "turn/completed" and m["params"]["turn"]["status"] == "failed"
    )
    assert failed["params"]["turn"]["error"]["message"]

    # Another connection resumes and forks; error paths of every kind.
    await call(plain, plain_session, "thread/resume", {"threadId": thread_id})
    fork = await call(plain, plain_session, "thread/fork", {"threadId": thread_id})
    await call(
        plain, plain_session, "thread/unsubscribe", {"threadId": fork["result"]["thread"]["id"]}
    )
    await call(
        plain, plain_session, "thread/unsubscribe", {"threadId": fork["result"]["thread"]["id"]}
    )
    await call(plain, plain_session, "collaborationMode/list", {})  # experimental
    await call(plain, plain_session, "fs/readFile", {"path": "/"})  # not implemented
    await call(plain, plain_session, "thread/read", {"threadId": "not-a-uuid"})
    await call(plain, plain_session, "account/read", omit_params=True)
    rejection = backend.reject_method("foo")
    assert rejection is not None
    rec.failures += rec.v.errors("#/definitions/JSONRPCError", rejection.to_error("x"))

    for peer in (tui, plain):
        rec.check_notifications(peer)
    assert rec.failures == []
    assert rec.ok_methods == set(HANDLERS)
    assert rec.notifications == NOTIFICATION_METHODS
    assert rec.server_requests == {"item/commandExecution/requestApproval"}
    assert rec.error_codes == {-32600, -32601}
