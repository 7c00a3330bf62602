"""The real codex behind the gateway (``--backend codex``, ``auto``, ``unix://PATH``).

* :mod:`.backend`: :class:`CodexBackend` (a supervised child) and :class:`SocketBackend`
  (an existing control socket);
* :mod:`.upstream`: one WebSocket session to codex per client connection, with retries
  of requests codex refused with -32001;
* :mod:`.child` and :mod:`.guard`: running the child so that it never outlives us;
* :mod:`.pacing`: backoff with jitter, sans-I/O.
"""

from __future__ import annotations

from appserver.backends.codex.backend import CodexBackend, SocketBackend

__all__ = ["CodexBackend", "SocketBackend"]
