"""appserver: a gateway for the Codex app-server protocol."""

from __future__ import annotations

__version__ = "0.1.0"
