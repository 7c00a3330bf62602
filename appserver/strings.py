"""Upstream-visible strings: error messages, banner lines, HTTP bodies.

Clients and tests compare these exactly, so they live in one module. Each one cites the
spec section it comes from (spec/ is ``../shared/spec`` in the development checkout).
"""

from __future__ import annotations

# --- JSON-RPC errors (spec/transport.md §6, §7.2, §9.2) ---------------------------------

OVERLOADED_MESSAGE = "Server overloaded; retry later."
NOT_INITIALIZED = "Not initialized"
ALREADY_INITIALIZED = "Already initialized"
EXPERIMENTAL_REQUIRED = "{reason} requires experimentalApi capability"
INVALID_REQUEST_PREFIX = "Invalid request: "
INVALID_CLIENT_NAME = "Invalid clientInfo.name: '{name}'. Must be a valid HTTP header value."

# Gateway-specific (not upstream): what a client sees when the backend behind its
# connection failed or the gateway is going away.
BACKEND_UNAVAILABLE = "backend unavailable: {reason}"
SERVER_DRAINING = "Server is draining; retry after reconnecting"

# --- --listen URL grammar (spec/transport.md §1) ------------------------------------------

LISTEN_UNSUPPORTED = (
    "unsupported --listen URL `{url}`; expected `stdio://`, `unix://`, `unix://PATH`, "
    "`ws://IP:PORT`, `wss://IP:PORT`, or `off`"
)
LISTEN_BAD_UNIX = "invalid unix socket --listen URL `{url}`; failed to resolve socket path: {message}"
LISTEN_BAD_WS = "invalid websocket --listen URL `{url}`; expected `ws://IP:PORT`"
LISTEN_BAD_WSS = "invalid websocket --listen URL `{url}`; expected `wss://IP:PORT`"
CODEX_HOME_UNRESOLVED = "failed to resolve CODEX_HOME: {err}"
NO_TRANSPORT = "no transport configured; use --listen or enable remote control"

# --- WebSocket close reasons (ours) -------------------------------------------------------

CLOSE_REASON_SLOW_CLIENT = "outbound queue full: client is not reading its messages"
CLOSE_REASON_BACKEND = "backend failed: {reason}"
CLOSE_REASON_SHUTDOWN = "server shutting down"

# --- codex backend (appserver/backends/codex/); ours, not upstream --------------------------

CODEX_NOT_FOUND = "codex executable not found: `{bin}` (use --codex-bin PATH or put codex on PATH)"
CODEX_START_FAILED = "codex app-server failed to start: {reason}"
CODEX_EXITED = "codex app-server exited ({status})"
CODEX_UNRESPONSIVE = "codex app-server stopped answering on its socket"
CODEX_RESTARTING = "codex app-server is restarting"
CODEX_STOPPING = "the gateway is stopping"
UPSTREAM_UNREACHABLE = "cannot reach app-server at {path}: {err}"
UPSTREAM_CLOSED = "app-server closed the session ({detail})"
