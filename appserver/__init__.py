"""appserver: a gateway for the Codex app-server protocol."""

from __future__ import annotations

__version__ = "0.1.0"

#: The codex release whose app-server protocol this gateway mirrors (wire behaviour,
#: method list and schemas were checked against this binary).
CODEX_PROTOCOL_VERSION = "0.169.0"
