"""The built-in offline backend: an in-process, protocol-faithful app-server.

It is the embedded default when no codex executable is installed, and the backend for
offline demos, client testing and benchmarks. See :mod:`.backend`.
"""

from __future__ import annotations

from appserver.backends.builtin.backend import BuiltinBackend

__all__ = ["BuiltinBackend"]
