"""The package's own exceptions that cross module boundaries.

The two failures a command reports as one ``Error: ...`` line, by exit status:
:func:`appserver.cli.main` catches them (also from inside task groups) and prints
``Error: {message}``: :class:`ConfigError` exits 2 (usage and configuration, click's
convention), :class:`RuntimeFailure` exits 1. And :class:`RpcError`, a method handler's
JSON-RPC error answer (the built-in backend's handlers, the gateway's ``remoteControl/*``
methods). Then the failures one layer raises and another catches: a backend that cannot
serve (:class:`BackendUnavailable`, caught by the transports and the remote-control link),
a closed outgoing queue (:class:`QueueClosed`, the writer's signal that a connection is
over) and a target that cannot be reached (:class:`ConnectFailed`, caught by the client
commands). Any module may raise them; this module has no other job, so catching one never
drags in the config grammar, a transport, a queue or a backend.
"""

from __future__ import annotations

import os


class ConfigError(Exception):
    """A usage or configuration error; ``str(err)`` is the one line shown (exit status 2)."""


class RuntimeFailure(Exception):
    """A runtime failure (e.g. the control socket is in use); one line, exit status 1."""


class RpcError(Exception):
    """Raised by a method handler to answer its request with a JSON-RPC error."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class BackendUnavailable(Exception):
    """The backend cannot serve a session right now (not started, restarting, dead).

    The message is shown to clients and operators: it must name the failure and never
    contain a secret.
    """


class QueueClosed(Exception):
    """The queue was closed: no more puts, and ``get`` found it empty."""


class ConnectFailed(Exception):
    """Could not reach the target; ``str(err)`` is the one line shown."""


def os_error_text(exc: OSError) -> str:
    """An OS error the way codex (Rust) prints it in these lines:
    ``No such file or directory (os error 2)``."""
    if exc.errno is None:
        return str(exc)
    return f"{exc.strerror or os.strerror(exc.errno)} (os error {exc.errno})"
