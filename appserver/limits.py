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

#: Requests for methods the gateway answers itself (remoteControl/*), queued or running,
#: per connection; one more is answered -32001. Their handlers may take seconds (an
#: enrollment over HTTP), so they run beside the backend traffic, not in its window.
GATEWAY_CALLS_PER_CONNECTION = 16

#: At most this many queued client messages are forwarded to the backend at once (one
#: write to codex's socket instead of one per request).
FORWARD_BATCH_MESSAGES = 64

# --- outbound (gateway -> client) ----------------------------------------------------

#: Messages waiting for a socket client to read them; when full the client is closed
#: with close code 1008 (appserver.close.CloseCode). Upstream uses 32768 (spec/transport.md §6).
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

# --- closing a connection -----------------------------------------------------------------

#: Longest close reason, in UTF-8 bytes: a close frame's payload is at most 125 bytes, two
#: of which are the code (RFC 6455 §5.5). Longer reasons are cut (appserver.close).
CLOSE_REASON_MAX_BYTES = 123

# --- writers -----------------------------------------------------------------------------

#: Frames the ``websockets`` library buffers per client connection before it stops
#: reading that socket (backpressure on a client that sends faster than we dispatch).
WEBSOCKET_SERVER_MAX_QUEUE = 64

#: Masking keys for the frames a WebSocket client writes (to codex, to a relay) are drawn
#: from os.urandom this many at a time (4 bytes each): one system call per 1,024 frames
#: instead of one per frame, each key still fresh and unpredictable (RFC 6455 §5.3).
WEBSOCKET_MASK_POOL_KEYS = 1024

#: stdin is read this many bytes at a time (what one pipe read of the event loop returns
#: at most); the loop stops reading ahead once about twice this much is unread.
STDIO_READ_CHUNK = 256 * 1024

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

#: Connecting: TCP, TLS and the WebSocket upgrade together (codex's CONNECT_TIMEOUT).
CONNECT_TIMEOUT = 10.0

#: When a server refuses the upgrade, this much of its body's first line is shown.
REFUSAL_BODY_SHOWN_CHARS = 200

# --- remote control: the wire shared by host and relay (appserver.remote_control) ---------
# spec/remote-control.md §4.4–4.5, segment.rs and websocket.rs upstream.

#: A serialized envelope larger than this is split into chunks (and a received chunk
#: envelope larger than this is dropped).
RC_MAX_ENVELOPE_BYTES = 150 * 1024

#: About this many message bytes per chunk (the count grows until each envelope fits).
RC_CHUNK_TARGET_BYTES = 100 * 1024

#: Largest message that may be chunked or reassembled.
RC_MAX_MESSAGE_BYTES = 100 * 1024 * 1024

#: Most chunks one message may be cut into.
RC_MAX_SEGMENTS = 1024

#: Messages being reassembled at once per receiver; the least recently active is evicted.
RC_MAX_ASSEMBLIES = 128

#: Bytes of partial messages a receiver holds across its assemblies; beyond this the least
#: recently active assembly is dropped (upstream bounds only the count: 128 x 100 MiB).
RC_MAX_REASSEMBLY_BYTES = 256 * 1024 * 1024

#: Host: server envelopes sent and not yet acked, over the whole link; at this many the
#: host stops sending new messages until an ack frees a slot (upstream CHANNEL_CAPACITY).
RC_MAX_UNACKED = 128
#: Client and stream ids kept encoded as JSON strings for the envelopes' tails (the ids of
#: the streams in use; an evicted one is encoded again).
RC_ENCODED_IDS_CACHED = 4096
#: The ids ends of host envelopes (``,"client_id":…,"stream_id":…``) kept read, for the
#: relay's slicing of our host's ``server_message`` (the streams in use; others read again).
RC_SPLIT_TAILS_CACHED = 4096

#: Streams whose numbering a host (and a relay's replay filter) remembers after they close;
#: beyond this the least recently used closed stream is forgotten (its numbering restarts).
RC_MAX_REMEMBERED_STREAMS = 64 * 1024


# --- remote control: the host (appserver.remote_control) ---------------------------------

#: HTTP calls to the relay (enroll, refresh, pair, pair/status, client list and revoke),
#: each, like upstream (spec/remote-control.md §3.1).
RC_HTTP_TIMEOUT = 30.0

#: Body bytes kept in an error message's redacted preview (upstream: 4096, then ``...``).
RC_BODY_PREVIEW_BYTES = 4096

#: A host token with less than this left is refreshed before it is used (upstream's
#: proactive window, §3.3).
RC_REFRESH_PROACTIVE_WINDOW = 300.0

#: A transient refresh failure without ``Retry-After`` defers the next attempt by a
#: uniform random delay in this range (seconds, upstream's 24–36 s).
RC_REFRESH_BACKOFF_MIN = 24
RC_REFRESH_BACKOFF_MAX = 36

#: While the credential has no account id (auth.json without ``tokens.account_id``), the
#: link retries this often (upstream: 1 s).
RC_WAITING_RETRY = 1.0
#: While connected, how often the login (``$CODEX_HOME/auth.json``) is read again to see an
#: account change (codex's auth manager reports it at once; a token file never changes).
RC_ACCOUNT_CHECK_INTERVAL = 2.0

#: Reconnect backoff: 200 ms doubling per attempt, capped, with +-10 % jitter (§4.6).
RC_RECONNECT_BASE = 0.2
RC_RECONNECT_CAP = 30.0
RC_RECONNECT_JITTER = 0.1

#: Opening the host WebSocket: TCP, TLS and the upgrade (upstream: 30 s).
RC_CONNECT_TIMEOUT = 30.0

#: WebSocket Ping frames on the host link, and how long a Pong may take (§4.6).
RC_KEEPALIVE_INTERVAL = 10.0
RC_KEEPALIVE_TIMEOUT = 60.0

#: A controller stream with no inbound message or ping for this long is closed; the sweep
#: runs this often (upstream: 10 min and 30 s).
RC_IDLE_TIMEOUT = 600.0
RC_IDLE_SWEEP_INTERVAL = 30.0

#: Per controller stream, the processor's bounds are smaller than a local client's: a phone
#: does not pipeline 16,384 requests. Messages and bytes waiting for the backend ...
RC_STREAM_INBOUND_MESSAGES = 256
RC_STREAM_INBOUND_BYTES = 8 * 1024 * 1024
#: ... and messages waiting to become envelopes (bytes bounded by OUTBOUND_QUEUE_BYTES, as
#: for a local socket client). More messages than a local client may queue: the link drains
#: a stream only as fast as the relay acks (at most RC_MAX_UNACKED envelopes ahead), about a
#: third of a local socket's pace, and a built-in turn of 50,000 deltas is produced faster
#: than that; it must not close the stream as a slow client. Past this bound (or the bytes)
#: the stream is closed as a slow client. An idle stream's queue holds nothing.
RC_STREAM_OUTBOUND_MESSAGES = 4 * OUTBOUND_QUEUE_MESSAGES

#: Frames the WebSocket library buffers from the relay before it stops reading (the link
#: reader never waits on a stream, so this only absorbs bursts).
RC_LINK_MAX_QUEUE = 64

#: Largest frame accepted on the host link: a chunk envelope is at most 150 KiB; leave room.
RC_LINK_MAX_FRAME = 1024 * 1024

#: Envelopes written to the link per wake-up of the writer (one socket write each batch).
RC_WRITE_BATCH = 256

#: More than an envelope adds around a controller message (type, ids, ``seq_id``, cursor):
#: a message whose UTF-8 size plus this fits RC_MAX_ENVELOPE_BYTES goes in one envelope
#: from the relay's socket callback; larger ones take the chunking path.
RELAY_ENVELOPE_OVERHEAD = 4096

#: Disable: how long link and workers get to stop (upstream: 5 s).
RC_SHUTDOWN_TIMEOUT = 5.0

# --- relay (appserver.relay) ---------------------------------------------------------------
# Ours (the relay is not upstream's); docs/relay.md states every one of these.

#: Host bearer tokens (`remote_control_token`) live this long; codex refreshes 5 min
#: before expiry. A token is checked at the WebSocket handshake only: an open host link
#: is never cut because its token expired or a newer one was issued (spec §4.6).
RELAY_HOST_TOKEN_TTL = 30 * 60
#: Live host tokens kept per server (older ones are forgotten first).
RELAY_HOST_TOKENS_PER_SERVER = 8
#: Pairing codes (and their manual codes) expire this long after `server/pair`.
RELAY_PAIRING_CODE_TTL = 10 * 60
#: Random bytes in a pairing code (24 bytes = 192 bits, 32 base64url characters).
RELAY_PAIRING_CODE_BYTES = 24
#: Characters in a manual code (from a 32-letter alphabet: 5 bits each), shown as XXXX-XXXX.
RELAY_MANUAL_CODE_CHARS = 8
#: Unclaimed, unexpired pairing codes kept per server (the oldest is dropped first).
RELAY_PAIRING_CODES_PER_SERVER = 16
#: Expired pairing codes are remembered this long (`pair/status` answers 410, not 404).
RELAY_PAIRING_CODE_RETENTION = 60 * 60
#: Claim attempts per client address in one window; over it: 429 with Retry-After.
RELAY_CLAIM_ATTEMPTS = 20
#: Claim attempts across all addresses in one window (distributed guessing of manual codes).
RELAY_CLAIM_ATTEMPTS_GLOBAL = 600
RELAY_CLAIM_WINDOW = 60.0
#: Client addresses the claim limiter remembers (least recently seen forgotten first).
RELAY_CLAIM_TRACKED_ADDRESSES = 10_000

#: Hosts (enrolled servers) per account; enrolling one more is refused with 403.
RELAY_MAX_HOSTS_PER_ACCOUNT = 32
#: Paired controller devices per host; claiming one more is refused with 403.
RELAY_MAX_DEVICES_PER_HOST = 100
#: Credentials per account (`account add` and each `codex-home` make one).
RELAY_MAX_CREDENTIALS_PER_ACCOUNT = 64
#: Open controller streams (live or in their grace period) per device and per host.
RELAY_MAX_STREAMS_PER_DEVICE = 256
RELAY_MAX_STREAMS_PER_HOST = 4096
#: `appserver relay device list`: at most this many devices (every host's).
RELAY_DEVICE_LIST_MAX = 1_000_000
#: `environments/{env}/clients` page size: default and maximum (codex allows 1..100).
RELAY_CLIENT_LIST_DEFAULT = 100
RELAY_CLIENT_LIST_MAX = 100

#: Largest HTTP request body the relay reads (enroll, pair, claim, ...).
RELAY_MAX_BODY_BYTES = 64 * 1024
#: Largest WebSocket frame from a host: codex keeps envelopes <= 150 KiB (spec §4.4).
RELAY_HOST_MAX_FRAME_BYTES = 1024 * 1024
#: Largest WebSocket frame (one JSON-RPC message) from a controller.
RELAY_CONTROLLER_MAX_FRAME_BYTES = 16 * 1024 * 1024

#: Acks to a host: written with the next envelope the relay sends it once this many host
#: envelopes are due (fewer would make the host read and apply an ack frame on every round
#: trip, for a replay buffer a few entries shorter)...
RELAY_ACK_RIDE = 32
#: ...or on their own once this many are due (well below the host's stall at
#: RC_MAX_UNACKED = 128)...
RELAY_ACK_EVERY = 96
#: ...or this many seconds after the first one that is due (a quiet link: the host frees
#: its replay buffer soon anyway; one write per interval, not one per envelope).
RELAY_ACK_DELAY = 0.05

#: Controller -> host envelopes kept per host for redelivery after the host link
#: reconnects (from the host's `x-codex-subscribe-cursor`); oldest forgotten first.
RELAY_HOST_REDELIVERY_ENVELOPES = 4096
RELAY_HOST_REDELIVERY_BYTES = 16 * 1024 * 1024

#: Relay -> controller JSON-RPC frames kept per stream: the unwritten ones are the socket's
#: send queue, the written ones stay for a resume (``?received=n``) until these bounds evict
#: them. When the bound is reached with unwritten frames only, the controller is too slow
#: (close 4003) or, while its socket is away, the stream expires.
RELAY_STREAM_BUFFER_FRAMES = 8192
RELAY_STREAM_BUFFER_BYTES = 4 * 1024 * 1024
#: Controller frames held while the host is offline (requests are answered with the
#: host-offline error after RELAY_HOST_OFFLINE_WAIT; notifications wait for the host).
RELAY_STREAM_PENDING_FRAMES = 1024

#: A stream whose controller socket dropped is kept this long for a resume.
RELAY_STREAM_GRACE = 60.0
#: How long a request waits for an offline host before it is answered with an error.
RELAY_HOST_OFFLINE_WAIT = 10.0
#: Requests of one stream handed to the host and not answered yet, tracked so that they get
#: the host-offline error when the host goes away (beyond this, the oldest is no longer tracked).
RELAY_STREAM_OPEN_REQUESTS = 4096
#: Request ids of one stream the relay answered with the host-offline error after handing them
#: to the host, kept so that the host's late answer (replayed after it reconnects) is dropped.
RELAY_STREAM_ANSWERED_IDS = 4096
#: Streams without traffic for this long get an envelope `ping` (the host closes virtual
#: connections idle for 10 min, spec §4.3); also how often the sweep runs.
RELAY_STREAM_PING_INTERVAL = 120.0
#: WebSocket Ping frames to controllers and hosts (aiohttp heartbeat): one after between
#: one and two of this without a read; a peer silent for half of this more is closed.
RELAY_CONTROLLER_HEARTBEAT = 30.0
#: How often the relay looks for account/device changes made by `appserver relay` tooling
#: in another process (revocations close live sockets within this delay).
RELAY_STORE_POLL_INTERVAL = 1.0
#: Shutdown: how long open sockets get to close.
RELAY_SHUTDOWN_TIMEOUT = 5.0

#: Close codes the relay sends to controllers (docs/relay.md).
RELAY_CLOSE_DEVICE_REVOKED = 4001
RELAY_CLOSE_STREAM_EXPIRED = 4002
RELAY_CLOSE_CONTROLLER_TOO_SLOW = 4003
RELAY_CLOSE_PROTOCOL = 1008
RELAY_CLOSE_SHUTDOWN = 1001
#: An older host link replaced by a newer one of the same host.
RELAY_CLOSE_NORMAL = 1000


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

#: A paired host's local name (its file name in the config folder): at most this long.
CONTROLLER_NAME_MAX = 63
#: The relay's error detail shown after a failed claim: its first line, cut to this.
CONTROLLER_RELAY_DETAIL_CHARS = 200
#: `appserver pair` / `devices`: paired devices asked for per `remoteControl/client/list` page.
CONTROLLER_CLIENT_LIST_PAGE = 100

# --- hardening: bad input at the boundaries ---------------------------------------------------

#: Arrays/objects nested inside each other in one incoming message; deeper messages are
#: malformed (logged, ignored). codex's serde_json stops at its 128th level (observed with
#: codex 0.169.0: 127 levels answered, 128 ignored), so we do too.
JSON_MAX_NESTING = 127

#: Once a connection is asked to close, the write in progress and (for a flushing close,
#: e.g. shutdown's 1001) the messages still queued get this long; a client that does not
#: read is then dropped. Then the close frame gets WEBSOCKET_CLOSE_TIMEOUT. So a close takes
#: at most CLOSE_FLUSH_TIMEOUT + WEBSOCKET_CLOSE_TIMEOUT (10 s), and a first SIGTERM at most
#: SHUTDOWN_DRAIN_TIMEOUT + that (20 s).
CLOSE_FLUSH_TIMEOUT = 5.0

#: Log volume a client can cause (malformed frames, refused upgrades, failed accepts):
#: per message template, at most LOG_REPEAT_BURST lines per LOG_REPEAT_INTERVAL seconds;
#: the next line let through counts those dropped (appserver.log.RepeatLimiter).
LOG_REPEAT_BURST = 10
LOG_REPEAT_INTERVAL = 10.0
#: Message templates tracked at once (they are literals; this only bounds memory).
LOG_REPEAT_KEYS = 1024

#: Open client connections (all listeners together). One more is closed at once with
#: 1013 "try again later". The cap is lowered to fit the open-file limit: each connection
#: holds up to CONNECTION_FDS descriptors (a codex-backed one also has its upstream
#: socket), and FD_RESERVE are kept for listeners, logs and the codex child.
MAX_CONNECTIONS = 4096
CONNECTION_FDS = 2
FD_RESERVE = 64

#: An HTTP request head on the TCP listener is looked at (for pipelining) up to this size;
#: a longer one goes to the WebSocket library, which refuses it.
HTTP_HEAD_MAX_BYTES = 64 * 1024

#: ``appserver call --wait-for METHOD``: how long to wait for the notification after the answer.
CALL_WAIT_TIMEOUT = 60.0

#: Longest ``cursor`` the built-in backend's pages accept (an offset; longer is invalid, as
#: ``int()`` of thousands of digits is refused by Python and needlessly slow).
BUILTIN_CURSOR_MAX_DIGITS = 18


# --- relay cluster (Redis; appserver.relay.redis_store and the cross-node routing) ---------
#: Connecting to Redis, and one command's answer: past these the store is "unavailable"
#: (503 at the routes, not-ready on /readyz) instead of hanging a request.
RELAY_REDIS_CONNECT_TIMEOUT = 5.0
RELAY_REDIS_COMMAND_TIMEOUT = 5.0
#: An idle pooled connection is checked with PING before reuse after this long.
RELAY_REDIS_HEALTH_CHECK_INTERVAL = 10.0
#: A Redis error shown in a message (503 detail, `Error:` line): its first line, cut to this.
RELAY_REDIS_ERROR_CHARS = 160
#: A host's lease (which node owns its link) lives this long unless renewed; its owner
#: renews it this often. A node that dies keeps its hosts' leases at most the TTL (the
#: host moving to another node takes them over at once).
RELAY_LEASE_TTL = 10.0
RELAY_LEASE_RENEW = 2.0
#: How often a node compares its view of which hosts are online with the leases (repairs
#: a lost event: a node that died without releasing, a missed notice).
RELAY_CLUSTER_RECONCILE_INTERVAL = 0.5
#: Redis stream reads: entries per read, and how long one blocking read waits.
RELAY_CLUSTER_READ_BATCH = 512
RELAY_CLUSTER_READ_BLOCK = 1.0
#: Entries a node queues for one Redis stream before it refuses more (controller frames are
#: then held like an offline host's; a host link is closed and replays later).
RELAY_CLUSTER_WRITE_QUEUE = 4096
#: Pause before retrying a failed Redis read or subscription.
RELAY_CLUSTER_RETRY = 0.5
#: The direct path between nodes (relay/peers.py): how long a node's advertised address
#: lives unless refreshed, how often it is refreshed, how long dialing another node may
#: take, and frames queued for one other node before more go through Redis only.
RELAY_CLUSTER_NODE_TTL = 30.0
RELAY_CLUSTER_NODE_REFRESH = 10.0
RELAY_CLUSTER_PEER_CONNECT_TIMEOUT = 5.0
RELAY_CLUSTER_PEER_QUEUE = 4096
#: While the direct path carries everything, the Redis streams are written and read behind
#: it in batches: a node writes what waits this long after the first entry and reads a
#: stream again this long after a read that brought nothing new (a gap the direct path
#: shows is read at once; only the last frames before a dropped direct socket wait this
#: long). Fewer, larger batches: Redis work disturbs fewer round trips...
RELAY_CLUSTER_DIRECT_LAG = 0.1
#: ...or at once when this many entries wait (a host is acked only once Redis has its
#: envelopes, and stalls at 128 unacked: a burst must not wait for the lag).
RELAY_CLUSTER_WRITE_BATCH = 32
#: Controller frames into a host's up stream wait for nobody (the owner writes them to the
#: host from the direct path): a burst of them is written when this many wait
#: (entries of RELAY_CLUSTER_WRITE_BATCH; one read takes them all: RELAY_CLUSTER_READ_BATCH).
RELAY_CLUSTER_UP_WRITE_BATCH = 512
