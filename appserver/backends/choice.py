"""Choosing the backend for ``--backend auto|builtin|codex|unix://PATH``."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Mapping

from appserver import strings
from appserver.backends.base import Backend
from appserver.backends.builtin import BuiltinBackend
from appserver.config import BackendChoice, BackendConfig, codex_home
from appserver.errors import ConfigError

log = logging.getLogger("appserver.backend")


def find_codex(config: BackendConfig, env: Mapping[str, str]) -> str | None:
    """The codex executable: ``--codex-bin`` (a path or a name on PATH), else ``codex``."""
    name = config.codex_bin or "codex"
    found = shutil.which(name, path=env.get("PATH"))
    return str(found) if found else None


def create_backend(config: BackendConfig, env: Mapping[str, str]) -> tuple[Backend, str]:
    """The backend to serve with, and why it was chosen (for the banner)."""
    from appserver.backends.codex import CodexBackend, SocketBackend

    if config.choice is BackendChoice.BUILTIN:
        _warn_unused_overrides(config, "--backend builtin")
        return BuiltinBackend(codex_home(env)), "--backend builtin"
    if config.choice is BackendChoice.UNIX:
        assert config.socket is not None
        _warn_unused_overrides(config, f"--backend unix://{config.socket}")
        return SocketBackend(config.socket), f"--backend unix://{config.socket}"
    codex = find_codex(config, env)
    if config.choice is BackendChoice.CODEX or config.codex_bin:
        if codex is None:
            raise ConfigError(strings.CODEX_NOT_FOUND.format(bin=config.codex_bin or "codex"))
        why = "--backend codex" if config.choice is BackendChoice.CODEX else "--codex-bin"
        return CodexBackend(codex, codex_home(env), config.overrides, env), why
    if codex is not None:
        return CodexBackend(codex, codex_home(env), config.overrides, env), "auto: found codex"
    _warn_unused_overrides(config, "the built-in backend (no codex executable on PATH)")
    return BuiltinBackend(codex_home(env)), "auto: no codex executable on PATH"


def _warn_unused_overrides(config: BackendConfig, chosen: str) -> None:
    """``-c`` only reaches a codex child this gateway starts; say so instead of ignoring it."""
    if config.overrides:
        log.warning(strings.OVERRIDES_UNUSED.format(count=len(config.overrides), chosen=chosen))
