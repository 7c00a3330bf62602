"""Choosing the backend for ``--backend auto|builtin|codex|unix://PATH``."""

from __future__ import annotations

from collections.abc import Mapping

from appserver.backends.base import Backend
from appserver.backends.builtin import BuiltinBackend
from appserver.config import BackendChoice, BackendConfig, ConfigError, codex_home


def create_backend(config: BackendConfig, env: Mapping[str, str]) -> tuple[Backend, str]:
    """The backend to serve with, and why it was chosen (for the banner)."""
    if config.choice is BackendChoice.BUILTIN:
        return BuiltinBackend(codex_home(env)), "--backend builtin"
    if config.choice is BackendChoice.AUTO:
        return BuiltinBackend(codex_home(env)), "the codex backend is not available yet"
    raise ConfigError(f"`--backend {config.choice.value}` is not supported yet")
