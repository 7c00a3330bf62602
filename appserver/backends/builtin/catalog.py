"""Static answers of the built-in backend: identity, account, models, config, empty lists.

Shapes follow what codex 0.169.0 answered the TUI (the requests are in tests/interop/test_builtin_schema.py, ``TUI_BOOTSTRAP``), with
the values of an offline server: one model (``echo``) from the provider ``builtin``, an
API-key account that needs no login, no hooks, skills, plugins or requirements.
"""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

from appserver import __version__

#: The upstream protocol version this backend implements. It is the version in
#: ``userAgent`` (the TUI reads the first token after the first ``/`` as the server's
#: version, spec/clients.md A6.2.3) and every thread's ``cliVersion``.
UPSTREAM_VERSION = "0.169.0"

MODEL = "echo"
MODEL_PROVIDER = "builtin"


def user_agent(client_name: str | None, client_version: str | None) -> str:
    """Like codex's ``{originator}/{version} ({os} {release}; {arch}) {terminal} ({client})``.

    The version slot carries :data:`UPSTREAM_VERSION`, so clients that gate features on
    the server version treat us as the 0.169.0 server we mirror; the rest says what we are.
    """
    originator = client_name or "appserver"
    system = f"{platform.system()} {platform.release()}".strip()
    client = f"{originator}; {client_version}" if client_version else originator
    return (
        f"{originator}/{UPSTREAM_VERSION} ({system}; {platform.machine()}) "
        f"appserver/{__version__} builtin ({client})"
    )


def initialize_result(
    codex_home: Path,
    client_name: str | None,
    client_version: str | None,
    *,
    windows: bool,
    os_name: str,
) -> dict[str, Any]:
    return {
        "userAgent": user_agent(client_name, client_version),
        "codexHome": str(codex_home),
        "platformFamily": "windows" if windows else "unix",
        "platformOs": os_name,
    }


def account() -> dict[str, Any]:
    """Signed in with an API key, and no OpenAI login required: the TUI skips onboarding."""
    return {
        "account": {"type": "apiKey"},
        "userId": None,
        "requiresOpenaiAuth": False,
        "workspaceRouting": None,
    }


_EFFORTS = [
    {"reasoningEffort": "low", "description": "Echoes your message"},
    {"reasoningEffort": "medium", "description": "Echoes your message"},
    {"reasoningEffort": "high", "description": "Echoes your message"},
]


def models() -> list[dict[str, Any]]:
    return [
        {
            "id": MODEL,
            "model": MODEL,
            "upgrade": None,
            "upgradeInfo": None,
            "availabilityNux": None,
            "displayName": "Echo (built-in)",
            "description": "Offline deterministic agent: replies `echo: <your message>`.",
            "modelSpecialty": None,
            "hidden": False,
            "supportedReasoningEfforts": _EFFORTS,
            "defaultReasoningEffort": "medium",
            "inputModalities": ["text"],
            "supportsPersonality": False,
            "additionalSpeedTiers": [],
            "serviceTiers": [],
            "defaultServiceTier": None,
            "availableAccessPrograms": None,
            "isDefault": True,
        }
    ]


def config(include_layers: bool) -> dict[str, Any]:
    """``config/read``: the effective config of an offline server (no config files)."""
    return {
        "config": {
            "model": MODEL,
            "model_provider": MODEL_PROVIDER,
            "review_model": None,
            "model_context_window": None,
            "model_auto_compact_token_limit": None,
            "approval_policy": None,
            "approvals_reviewer": None,
            "sandbox_mode": None,
            "sandbox_workspace_write": None,
            "forced_chatgpt_workspace_id": None,
            "forced_login_method": None,
            "web_search": None,
            "tools": None,
            "instructions": None,
            "developer_instructions": None,
            "compact_prompt": None,
            "model_reasoning_effort": None,
            "model_reasoning_summary": None,
            "model_verbosity": None,
            "service_tier": None,
            "analytics": None,
            "apps": None,
            "profile": None,
            "profiles": {},
            "projects": None,
            "mcp_servers": {},
            "features": {},
            "hide_agent_reasoning": False,
        },
        "origins": {},
        "layers": [] if include_layers else None,
    }


def config_requirements() -> dict[str, Any]:
    return {"supportsIndependentSpeedModes": True, "requirements": None}


def hooks(cwds: list[str]) -> dict[str, Any]:
    return {"data": [{"cwd": cwd, "hooks": [], "warnings": [], "errors": []} for cwd in cwds]}


def skills(cwds: list[str]) -> dict[str, Any]:
    return {"data": [{"cwd": cwd, "skills": [], "errors": []} for cwd in cwds]}


def installed_plugins() -> dict[str, Any]:
    return {"marketplaces": [], "marketplaceLoadErrors": []}


def collaboration_modes() -> dict[str, Any]:
    return {
        "data": [
            {"name": "Plan", "mode": "plan", "model": None, "reasoning_effort": "medium"},
            {"name": "Default", "mode": "default", "model": None, "reasoning_effort": None},
        ]
    }


def gov_cloud() -> dict[str, Any]:
    return {"isGovCloud": False, "shouldWarn": False}


def sandbox(mode: str | None) -> dict[str, Any]:
    """The ``SandboxPolicy`` for a ``thread/start`` ``sandbox`` mode (default read-only)."""
    if mode == "danger-full-access":
        return {"type": "dangerFullAccess"}
    if mode == "workspace-write":
        return {
            "type": "workspaceWrite",
            "writableRoots": [],
            "networkAccess": False,
            "excludeTmpdirEnvVar": False,
            "excludeSlashTmp": False,
        }
    return {"type": "readOnly", "networkAccess": False}
