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

# --- built-in backend (appserver/backends/builtin) ----------------------------------------
# Upstream's serde and thread-lookup wording (/work/probe/FINDINGS.md §3), then our own.

BUILTIN_MISSING_FIELD = "missing field `{field}`"
BUILTIN_INVALID_TYPE = "invalid type: {unexpected}, expected {expected}"
BUILTIN_INVALID_THREAD_ID = "invalid thread id: {reason}"
BUILTIN_THREAD_NOT_LOADED = "thread not loaded: {thread_id}"
BUILTIN_THREAD_NOT_MATERIALIZED = (
    "thread {thread_id} is not materialized yet; "
    "thread/turns/list is unavailable before first user message"
)
# Ours: a method upstream has but the offline backend does not implement (-32601).
BUILTIN_UNSUPPORTED_METHOD = "`{method}` is not supported by the built-in offline backend"
BUILTIN_TURN_IN_PROGRESS = "thread {thread_id} already has a turn in progress; interrupt it first"
BUILTIN_INVALID_CURSOR = "invalid cursor: {cursor}"
