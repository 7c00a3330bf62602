"""Backends: where app-server semantics come from (see :mod:`appserver.backends.base`)."""

from __future__ import annotations

from appserver.backends.base import Backend, BackendSession, Peer

__all__ = ["Backend", "BackendSession", "Peer"]
