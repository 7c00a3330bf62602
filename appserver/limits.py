"""Every queue size, timeout and byte limit of the gateway, named, in one place.

Memory per connection has a ceiling that follows from these numbers:

* inbound: at most ``INBOUND_QUEUE_MESSAGES`` queued client messages holding at most
  ``INBOUND_QUEUE_BYTES`` of text (one message larger than that is still admitted when the
  queue is empty, so a single large request is never refused for its size alone);
* outbound: at most ``OUTBOUND_QUEUE_MESSAGES`` messages and ``OUTBOUND_QUEUE_BYTES`` of
  text waiting for a slow client, after which a socket client is disconnected (stdio
  instead waits, like upstream);
* one message is at most ``MAX_MESSAGE_BYTES`` on every transport.

Upstream's numbers (spec/transport.md §6) are given next to ours where they differ.
"""

from __future__ import annotations

import sys

# --- messages -----------------------------------------------------------------------

#: Largest single JSON-RPC message accepted or sent, on every transport. The codex
#: client allows 128 MiB frames (spec/clients.md A4), so we accept as much.
MAX_MESSAGE_BYTES = 128 * 1024 * 1024

#: Advertised on the control socket's 101 response, like upstream
#: (`x-codex-websocket-max-unfragmented-message-bytes`, spec/transport.md §3.5).
ADVERTISED_MAX_UNFRAGMENTED_MESSAGE_BYTES = 16 * 1024 * 1024

# --- inbound (client -> gateway) -----------------------------------------------------

#: Client messages waiting per connection for a slot in the in-flight window. Upstream has
#: one 128-slot queue for the whole process and answers ~87% of a 10,000-request burst
#: with -32001; ours is per connection and large enough that such a burst is paced, not
#: refused. A request arriving while it is full is answered with -32001.
INBOUND_QUEUE_MESSAGES = 16 * 1024

#: Bytes of message text waiting per connection (see INBOUND_QUEUE_MESSAGES).
INBOUND_QUEUE_BYTES = 64 * 1024 * 1024

#: Client requests forwarded to the backend and not yet answered, per connection.
IN_FLIGHT_WINDOW = 96

#: At most this many queued client messages are forwarded to the backend at once (one
#: write to codex's socket instead of one per request).
FORWARD_BATCH_MESSAGES = 64

# --- outbound (gateway -> client) ----------------------------------------------------

#: Messages waiting for a socket client to read them; when full the client is closed
#: with close code CLOSE_SLOW_CLIENT. Upstream uses 32768 (spec/transport.md §6).
OUTBOUND_QUEUE_MESSAGES = 32 * 1024

#: Bytes waiting for a socket client (see OUTBOUND_QUEUE_MESSAGES).
OUTBOUND_QUEUE_BYTES = 256 * 1024 * 1024

#: Messages waiting for stdout. The stdio writer makes producers wait instead of
#: dropping the only client (upstream: 128, awaited).
STDIO_OUTBOUND_QUEUE_MESSAGES = 128

# --- timeouts (seconds) --------------------------------------------------------------

#: After stdin closes, how long the stdio transport waits for responses still owed to
#: requests it already read before it exits anyway.
STDIO_EOF_DRAIN_TIMEOUT = 30.0

#: First SIGINT/SIGTERM: how long in-flight responses may take before the gateway exits.
SHUTDOWN_DRAIN_TIMEOUT = 10.0

#: How long a WebSocket close handshake may take before the socket is dropped.
WEBSOCKET_CLOSE_TIMEOUT = 5.0

#: HTTP upgrade / TLS handshake deadline for one incoming connection.
HANDSHAKE_TIMEOUT = 10.0

# --- WebSocket close codes (RFC 6455 §7.4.1) --------------------------------------------

#: The client did not read its messages fast enough and its outbound queue filled.
CLOSE_SLOW_CLIENT = 1008
#: The backend behind this connection failed.
CLOSE_BACKEND_FAILURE = 1011
#: The gateway is shutting down.
CLOSE_GOING_AWAY = 1001
#: The client went away without a close handshake (never sent on the wire).
CLOSE_ABNORMAL = 1006

# --- writers -----------------------------------------------------------------------------

#: At most this many queued messages are handed to a transport's writer at once (one
#: stdout write, or back-to-back frames before the socket is drained).
WRITE_BATCH_MESSAGES = 256

# --- builtin backend (appserver/backends/builtin) -----------------------------------------
# State lives in memory for the gateway's lifetime; these caps bound it. When a cap is
# exceeded the least recently updated threads without a running turn are forgotten first.

#: Threads kept in memory (ephemeral threads are also dropped with their last subscriber).
BUILTIN_MAX_THREADS = 1000

#: Turns kept per thread; older turns are dropped from its history.
BUILTIN_MAX_TURNS_PER_THREAD = 100

#: Characters of message text (user input plus replies) kept across all threads.
BUILTIN_MAX_STORED_CHARS = 64 * 1024 * 1024

#: Default and largest page for thread/list, thread/loaded/list and thread/turns/list.
BUILTIN_DEFAULT_PAGE_SIZE = 50
BUILTIN_MAX_PAGE_SIZE = 500

#: Largest ``item/agentMessage/delta`` chunk (characters); replies split at word ends.
BUILTIN_DELTA_MAX_CHARS = 64

#: A streaming turn lets other tasks run after this many deltas (other clients' requests
#: would otherwise wait for the whole turn; see docs/performance.md, slow_client).
BUILTIN_DELTAS_PER_YIELD = 32

# --- codex backend (appserver/backends/codex/) ------------------------------------------

#: A managed codex child must answer on its socket within this long after it is started,
#: or the start counts as failed (at gateway start-up: exit 1).
CODEX_STARTUP_TIMEOUT = 60.0

#: Between two readiness probes while a codex child starts (upstream polls every 50 ms,
#: spec/transport.md §3.3).
CODEX_STARTUP_POLL = 0.05

#: One probe (connect + one request + its answer) may take this long.
CODEX_PROBE_TIMEOUT = 5.0

#: While running, the codex socket is probed this often ...
CODEX_HEALTH_INTERVAL = 10.0

#: ... and this many failed probes in a row mean codex stopped answering: its sessions
#: fail and the child is killed and restarted (an attached socket is marked not ready).
CODEX_HEALTH_FAILURES = 3

#: Stopping the child: SIGTERM, then SIGKILL to its whole process group after this long.
CODEX_STOP_GRACE = 5.0

#: How much longer than CODEX_STOP_GRACE the gateway waits for the guard process before
#: killing the guard's process group itself.
CODEX_GUARD_SLACK = 2.0

#: Restart backoff after the child exits: full jitter over min(cap, base * 2**n) seconds
#: for the n-th consecutive failure ...
CODEX_RESTART_BASE = 0.5
CODEX_RESTART_CAP = 30.0
#: ... and a child that ran this long before failing counts as healthy (n resets to 0).
CODEX_RESTART_HEALTHY_AFTER = 60.0

#: When an upstream session's socket closes unexpectedly, how long it waits for the
#: supervisor to learn why (the child's exit status) so the client is told the real cause;
#: if the socket no longer answers either, it waits up to CODEX_STOP_GRACE +
#: CODEX_GUARD_SLACK more (the child is dying: the guard reports within that bound).
CODEX_LOSS_VERDICT_WAIT = 0.5

#: A codex stderr line longer than this is logged in pieces.
CODEX_STDERR_LINE_BYTES = 64 * 1024

#: Opening one upstream session: connect + WebSocket handshake.
UPSTREAM_CONNECT_TIMEOUT = 10.0

#: Keepalive pings on each upstream session (codex answers pings); a session whose pong
#: does not come back within the timeout is failed like a closed one.
UPSTREAM_PING_INTERVAL = 20.0
UPSTREAM_PING_TIMEOUT = 20.0

#: Frames from codex the WebSocket library buffers per upstream session before it stops
#: reading the socket (backpressure towards codex while a client is slow).
UPSTREAM_MAX_QUEUE = 64

#: A request codex answered with -32001 (not processed) is sent again after
#: uniform(0, min(cap, base * 2**n)) seconds, at most this many times; then the -32001
#: reaches the client. Worst case before giving up: about 6 s of waiting.
UPSTREAM_RETRY_BASE = 0.005
UPSTREAM_RETRY_CAP = 1.0
UPSTREAM_RETRY_ATTEMPTS = 12

# --- unix control socket (appserver.transports.unix) ------------------------------------

#: Longest socket path ``bind``/``connect`` take (``sun_path`` less its NUL: 108 on Linux,
#: 104 on macOS and the BSDs). A longer control socket path is bound through a short
#: physical path and a symlink (see appserver.transports.unix_path).
SUN_PATH_MAX = 107 if sys.platform.startswith("linux") else 103

#: How long a starting listener waits for another server holding the startup lock
#: (``app-server-startup.lock``) before giving up. The lock is held only around the
#: probe and bind, so a long wait means a stuck process.
STARTUP_LOCK_TIMEOUT = 30.0

#: Poll interval while waiting for the startup lock (upstream polls its socket every 50 ms).
STARTUP_LOCK_POLL = 0.05

# --- proxy and call (appserver.proxy, appserver.commands.call) ---------------------------

#: JSONL proxy: after stdin closes, how long to wait for the answers owed to requests
#: already sent before closing the connection anyway.
PROXY_EOF_DRAIN_TIMEOUT = 30.0

#: Bytes read from stdin (and from a raw socket) at a time.
PROXY_READ_CHUNK = 64 * 1024

#: Chunks or lines waiting between the stdio threads and the event loop, each way.
PROXY_PIPE_ITEMS = 256

#: Connecting: TCP, TLS and the WebSocket upgrade together (codex's CONNECT_TIMEOUT).
CONNECT_TIMEOUT = 10.0

# --- remote control: the wire shared by host and relay (appserver.remote_control) ---------

# --- remote control: the host (appserver.remote_control) ---------------------------------

# --- relay (appserver.relay) ---------------------------------------------------------------

# --- controllers (appserver pair / devices / remote, the web controller) -------------------

#: `appserver pair`: how often `remoteControl/pairing/status` is polled while the code is
#: shown (seconds), and how long a claimed device name is looked for in the client list.
PAIR_POLL_INTERVAL = 1.0

#: `appserver remote pair`: the claim request to the relay (seconds, whole request).
CONTROLLER_CLAIM_TIMEOUT = 15.0

#: A controller stream keeps the JSON-RPC frames it sent until the relay confirms them
#: (the `received` count of `relay/stream` after a reconnect). At most this many frames /
#: bytes; past that, the oldest are dropped while connected (assumed delivered), and a
#: resume that would need a dropped frame ends the stream instead of losing a message.
CONTROLLER_RESEND_FRAMES = 1024
CONTROLLER_RESEND_BYTES = 8 * 1024 * 1024

#: Reconnecting to the relay: first delay, cap (seconds, jittered ±20 %), and how long a
#: stream keeps trying before its local client is closed (the relay's stream grace, 60 s).
CONTROLLER_RECONNECT_INITIAL = 0.25
CONTROLLER_RECONNECT_MAX = 5.0
CONTROLLER_RESUME_GIVE_UP = 60.0

#: Local clients of `appserver remote connect --listen`: at most this many at once.
CONTROLLER_MAX_LOCAL_CLIENTS = 64

#: Relay close codes (docs/relay.md, the controller API).
RELAY_CLOSE_REVOKED = 4001
RELAY_CLOSE_STREAM_EXPIRED = 4002
RELAY_CLOSE_TOO_SLOW = 4003
