"""Which event loop the gateway runs on: uvloop where it is installed, asyncio otherwise.

uvloop (libuv) makes every socket read, write and wake-up cheaper than asyncio's
selector loop; it is a dependency on Linux and macOS. ``APPSERVER_EVENT_LOOP`` chooses:

=========  ===================================================================
``auto``   uvloop when it imports, else asyncio's own loop (the default)
``uvloop`` uvloop, or exit 2 when it is not installed
``asyncio`` asyncio's own loop (to rule uvloop out when chasing a problem)
=========  ===================================================================

With a ``wss://`` listener, ``auto`` picks asyncio's loop and ``uvloop`` is refused: the
TLS listener does its handshake with ``loop.start_tls`` on a paused transport, which
uvloop 0.23 resets instead of completing.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import anyio

from appserver import strings
from appserver.errors import ConfigError

T = TypeVar("T")

ENV_VAR = "APPSERVER_EVENT_LOOP"
CHOICES = ("auto", "uvloop", "asyncio")


def uvloop_available() -> bool:
    return importlib.util.find_spec("uvloop") is not None


def choose(env: Mapping[str, str], *, tls_listener: bool = False) -> str:
    """``uvloop`` or ``asyncio`` for ``$APPSERVER_EVENT_LOOP``; :class:`ConfigError` if bad."""
    wanted = env.get(ENV_VAR, "").strip().lower() or "auto"
    if wanted not in CHOICES:
        raise ConfigError(strings.EVENT_LOOP_UNKNOWN.format(value=env.get(ENV_VAR), choices=", ".join(CHOICES)))
    if tls_listener and wanted == "uvloop":
        raise ConfigError(strings.EVENT_LOOP_NO_TLS)
    if wanted == "asyncio" or tls_listener:
        return "asyncio"
    if uvloop_available():
        return "uvloop"
    if wanted == "uvloop":
        raise ConfigError(strings.EVENT_LOOP_NO_UVLOOP)
    return "asyncio"


def run(
    func: Callable[..., Awaitable[T]], *args: Any, env: Mapping[str, str], tls_listener: bool = False
) -> T:
    """``anyio.run(func, *args)`` on the loop :func:`choose` picks."""
    use_uvloop = choose(env, tls_listener=tls_listener) == "uvloop"
    return anyio.run(func, *args, backend="asyncio", backend_options={"use_uvloop": use_uvloop})
