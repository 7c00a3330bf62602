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

# --- auth (spec/transport.md §5; checked against codex 0.169.0) ---------------------------

# Flag validation, in the order upstream checks them (§5.1).
WS_AUTH_JWT_FLAGS_NEED_SIGNED = (
    "`--ws-shared-secret-file`, `--ws-issuer`, `--ws-audience`, and "
    "`--ws-max-clock-skew-seconds` require `--ws-auth signed-bearer-token`"
)
WS_AUTH_TOKEN_SOURCES_EXCLUSIVE = "`--ws-token-file` and `--ws-token-sha256` are mutually exclusive"
WS_AUTH_TOKEN_SOURCE_REQUIRED = (
    "`--ws-token-file` or `--ws-token-sha256` is required when `--ws-auth capability-token` is set"
)
WS_AUTH_TOKEN_FLAGS_NEED_CAPABILITY = (
    "`--ws-token-file` and `--ws-token-sha256` require `--ws-auth capability-token`, "
    "not `signed-bearer-token`"
)
WS_AUTH_SECRET_REQUIRED = (
    "`--ws-shared-secret-file` is required when `--ws-auth signed-bearer-token` is set"
)
WS_AUTH_FLAGS_NEED_MODE = (
    "websocket auth flags require `--ws-auth capability-token` or `--ws-auth signed-bearer-token`"
)
WS_AUTH_NOT_ABSOLUTE = "{flag} must be an absolute path"
WS_AUTH_BAD_DIGEST = "{flag} must be a 64-character hex SHA-256 digest"
WS_AUTH_SKEW_TOO_LARGE = "websocket auth clock skew must fit in a signed 64-bit integer"

# Secret files, read once at startup (§5.1, §5.4). {err} is the OS error, never contents.
WS_AUTH_SECRET_UNREADABLE = "failed to read websocket auth secret {path}: {err}"
WS_AUTH_SECRET_EMPTY = "websocket auth secret {path} must not be empty"
WS_AUTH_SECRET_TOO_SHORT = "signed websocket bearer secret {path} must be at least {min} bytes"

# 401 bodies at upgrade (§5.2–5.4), plain text.
AUTH_MISSING_BEARER = "missing websocket bearer token"
AUTH_INVALID_HEADER = "invalid authorization header"
AUTH_INVALID_BEARER = "invalid websocket bearer token"
AUTH_INVALID_JWT = "invalid websocket jwt"
AUTH_EXPIRED_JWT = "expired websocket jwt"
AUTH_JWT_NOT_YET_VALID = "websocket jwt is not valid yet"
AUTH_JWT_ISSUER_MISMATCH = "websocket jwt issuer mismatch"
AUTH_JWT_AUDIENCE_MISMATCH = "websocket jwt audience mismatch"

# --- tcp (spec/transport.md §4; checked against codex 0.169.0) -----------------------------

WS_NON_LOOPBACK_WITHOUT_AUTH = (
    "refusing to start non-loopback websocket listener {addr} without auth; configure "
    "`--ws-auth capability-token` or `--ws-auth signed-bearer-token`"
)
WS_BANNER_TITLE = "appserver (WebSockets)"
WS_BANNER_TITLE_TLS = "appserver (WebSockets over TLS)"
WS_BANNER_NOTE_LOOPBACK = "note: binds localhost only (use SSH port-forwarding for remote access)"
WS_BANNER_NOTE_REMOTE = "note: websocket auth is required for non-localhost listeners"

# Non-upgrade requests on the upgrade endpoint: the bodies of upstream's HTTP framework
# (axum's WebSocketUpgrade rejections), in the order it checks.
HTTP_METHOD_NOT_GET = "Request method must be `GET`"
HTTP_NO_CONNECTION_UPGRADE = "Connection header did not include 'upgrade'"
HTTP_NO_UPGRADE_WEBSOCKET = "`Upgrade` header did not include 'websocket'"
HTTP_NO_WEBSOCKET_KEY = "`Sec-WebSocket-Key` header missing"
HTTP_BAD_WEBSOCKET_VERSION = "`Sec-WebSocket-Version` header did not include '13'"
HTTP_NOT_UPGRADABLE = "WebSocket request couldn't be upgraded since no upgrade state was present"

# --- tls (ours: native TLS for wss:// listeners) -----------------------------------------------

TLS_FLAGS_TOGETHER = "`--tls-cert` and `--tls-key` must be given together"
TLS_FLAGS_NEED_WSS = "`--tls-cert` and `--tls-key` are only used by `wss://IP:PORT` listeners"
TLS_REQUIRED = "`--listen {url}` requires `--tls-cert` and `--tls-key`"
TLS_UNREADABLE = "cannot read {flag} {path}: {err}"
TLS_NOT_PEM = "{flag} {path} is not a PEM {what}"
TLS_KEY_ENCRYPTED = "--tls-key {path} is encrypted; give an unencrypted PEM private key"
TLS_MISMATCH = "--tls-key {key} does not match the certificate in --tls-cert {cert}"
TLS_LOAD_FAILED = "cannot load --tls-cert {cert} / --tls-key {key}: {err}"

# --- token (ours: `appserver token`) -------------------------------------------------------------

TOKEN_OUT_EXISTS = "{path} already exists; pass --force to replace it"
TOKEN_WRITE_FAILED = "cannot write {path}: {err}"
TOKEN_BAD_DURATION = "invalid duration `{value}` for {flag}; expected e.g. `90s`, `15m`, `1h`, `7d` or seconds"
TOKEN_TTL_NOT_POSITIVE = "--ttl must be longer than zero"

# --- codex backend (appserver/backends/codex/); ours, not upstream --------------------------

CODEX_NOT_FOUND = "codex executable not found: `{bin}` (use --codex-bin PATH or put codex on PATH)"
CODEX_START_FAILED = "codex app-server failed to start: {reason}"
CODEX_EXITED = "codex app-server exited ({status})"
CODEX_UNRESPONSIVE = "codex app-server stopped answering on its socket"
CODEX_RESTARTING = "codex app-server is restarting"
CODEX_STOPPING = "the gateway is stopping"
UPSTREAM_UNREACHABLE = "cannot reach app-server at {path}: {err}"
UPSTREAM_CLOSED = "app-server closed the session ({detail})"

# --- unix control socket (spec/transport.md §3; observed with codex 0.169.0) --------------

SOCKET_IN_USE = "app-server control socket is already in use at {path}"
SOCKET_NOT_A_SOCKET = "app-server control socket path exists and is not a socket: {path}"
SOCKET_DIR_NOT_A_DIR = "socket directory path exists and is not a directory: {dir}"
SOCKET_PARENT_UNSAFE = (
    "socket parent must be owned by the user or root and prevent other users from "
    "replacing socket entries"
)
#: The 101 response header on the control socket and its value (spec §3.5).
MAX_UNFRAGMENTED_HEADER = "x-codex-websocket-max-unfragmented-message-bytes"
#: ``/daemon/shutdown`` on a server that is not a managed daemon: HTTP 403 with this body.
DAEMON_SHUTDOWN_PATH = "/daemon/shutdown"
UNMANAGED_SERVER = "unmanaged server"

# --- proxy and call (spec/transport.md §8, spec/clients.md A3) ------------------------------

CONNECT_SOCKET_FAILED = "failed to connect to socket at {path}"
AUTH_TOKEN_REQUIRES_SECURE = (
    "`--auth-token-env` requires a `wss://` or loopback `ws://` URL; got `{url}`"
)
AUTH_TOKEN_REQUIRES_CONNECT = "`--auth-token-env` requires `--connect`."
ENV_VAR_NOT_SET = "environment variable `{name}` is not set"
ENV_VAR_EMPTY = "environment variable `{name}` is empty"

# --- remote control: the wire shared by host and relay (appserver.remote_control) ---------

# --- remote control: the host (appserver.remote_control) ---------------------------------

# --- relay (appserver.relay) ---------------------------------------------------------------

# --- controllers (appserver pair / devices / remote, the web controller) -------------------

#: The built-in agent's reply to ``!run CMD`` once the approval request is answered.
BUILTIN_RUN_APPROVED = "approved: {command}"
BUILTIN_RUN_DECLINED = "declined: {command}"

# `appserver remote` (the CLI controller)
CONTROLLER_BAD_RELAY_URL = (
    "invalid relay URL `{url}`; expected `https://HOST[:PORT]/` (or `http://` to a loopback address)"
)
CONTROLLER_INSECURE_RELAY = (
    "refusing plain http:// to `{host}`: the device credential would travel in clear; "
    "use an https:// relay URL (http:// is allowed to loopback addresses only)"
)
CONTROLLER_BAD_LINK = "not a pairing link: expected `<relay URL>#pair=<code>`"
CONTROLLER_RELAY_MISMATCH = "the pairing link points at the relay {link}, but --relay says {relay}"
CONTROLLER_EMPTY_CODE = "the pairing code is empty"
CONTROLLER_CODE_NEEDS_RELAY = (
    "a bare pairing code needs --relay URL (or give the whole pairing link instead)"
)
CONTROLLER_BAD_NAME = (
    "invalid name `{name}`: use 1-63 letters, digits, `.`, `_` or `-`, starting with a "
    "letter or digit"
)
CONTROLLER_BAD_DEVICE_FILE = (
    "{path} is not a readable paired-host file; delete it and pair again"
)
CONTROLLER_NO_DEVICES = "no paired hosts; pair first with `appserver remote pair LINK_OR_CODE`"
CONTROLLER_WHICH_DEVICE = "several paired hosts ({names}); name the one to use"
CONTROLLER_UNKNOWN_DEVICE = "no paired host named `{name}` (paired: {known})"
CONTROLLER_BAD_CLAIM_ANSWER = "the relay's answer to the claim is not a controller-API claim result"
CONTROLLER_CLAIM_REFUSED = "the relay refused the pairing code: HTTP {status}: {detail}"
CONTROLLER_CLAIM_RATE_LIMITED = (
    "the relay is rate limiting pairing attempts; try again in {seconds} s"
)
CONTROLLER_RELAY_UNREACHABLE = "cannot reach the relay at {url}: {reason}"
CONTROLLER_DEVICE_REFUSED = (
    "the relay refused this device's credential (revoked or unknown); "
    "pair again with `appserver remote pair`"
)
#: Close reasons given to local clients of `appserver remote connect` (<= 123 bytes).
CONTROLLER_CLOSE_REVOKED = "device revoked: this controller's pairing was revoked on the host"
CONTROLLER_CLOSE_LOST = "the relay could not resume the stream: {reason}"
CONTROLLER_CLOSE_UNREACHABLE = "the relay is unreachable"
CONTROLLER_CLOSE_TOO_SLOW = "the relay closed the stream: controller too slow"
CONTROLLER_CLOSE_PROTOCOL = "the relay closed the stream: {code} {reason}"
CONTROLLER_HOST_OFFLINE = "the host is offline; requests get an error until it is back"
CONTROLLER_HOST_ONLINE = "the host is back online"

# `appserver pair` and `appserver devices` (the host side)
PAIR_GATEWAY_NOT_RUNNING = (
    "no gateway is running at {path} ({reason}); start one with "
    "`appserver serve --listen unix:// --remote-control URL ...`"
)
PAIR_REMOTE_CONTROL_OFF = (
    "remote control is off on this gateway; start it with `--remote-control URL` "
    "(or enable it with `appserver call remoteControl/enable`)"
)
PAIR_REMOTE_CONTROL_UNAVAILABLE = "this gateway cannot do remote control: {message}"
PAIR_EXPIRED = "the pairing code expired before a device claimed it; run `appserver pair` again"
PAIR_CLAIMED = "paired: {name}"
PAIR_FAILED = "{method} failed: {message}"
DEVICES_NONE = "no paired devices"
DEVICES_REVOKED = "revoked {client_id}"
CONTROLLER_BAD_LISTEN = "invalid --listen URL `{url}`; expected `ws://127.0.0.1:PORT`"
CONTROLLER_LISTEN_NOT_LOOPBACK = (
    "--listen must be a loopback address (local clients are not authenticated); got `{host}`"
)
CONTROLLER_LISTEN_FAILED = "cannot listen on {host}:{port}: {reason}"
CONTROLLER_LISTENING = (
    "appserver remote: listening on ws://{host}:{port} for `{name}` (host {server}); "
    "try: codex --remote ws://{host}:{port}"
)
CONTROLLER_TOO_MANY_CLIENTS = "too many local clients"
CONTROLLER_SHUTTING_DOWN = "appserver remote is shutting down"
CONTROLLER_LISTEN_OR_STDIO = "give exactly one of --listen ws://127.0.0.1:PORT or --stdio"
CONTROLLER_PAIRED = "paired with {server} as `{name}` (device {client_id}); saved in {path}"
CONTROLLER_FORGOTTEN = "forgot `{name}` (the host still lists this device until it revokes it)"
PAIR_SCAN_OR_OPEN = "Scan the code with your phone, or open this link on the device to pair:"
PAIR_NO_LINK = "This relay gives no pairing link; claim this pairing code from the controller:"
PAIR_MANUAL_CODE = "Or type this code: {code}"
PAIR_COUNTDOWN = "Waiting for a device; the code expires in {left}"
PAIR_UNKNOWN_DEVICE = "a new device"
DEVICES_NO_ENVIRONMENT = (
    "remote control has no environment yet (not enrolled with a relay); "
    "start the gateway with `--remote-control URL`"
)
