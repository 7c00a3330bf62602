"""Upstream-visible strings: error messages, banner lines, HTTP bodies.

Clients and tests compare these exactly, so they live in one module. Each one cites the
spec section it comes from (spec/ at the top of the repository).
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
# A method the gateway answers itself (e.g. remoteControl/*) failed unexpectedly (-32603);
# the cause is logged, never sent (it may name local paths or hosts).
GATEWAY_METHOD_FAILED = "internal error while handling `{method}`"

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
NO_LISTENER = "no listener for `{kind}`"

# --- WebSocket close reasons (ours) -------------------------------------------------------

CLOSE_REASON_SLOW_CLIENT = "outbound queue full: client is not reading its messages"
CLOSE_REASON_INBOUND_FULL = "inbound queue full: client sends faster than the server reads"
CLOSE_REASON_BACKEND = "backend failed: {reason}"
CLOSE_REASON_SHUTDOWN = "server shutting down"

# --- built-in backend (appserver/backends/builtin) ----------------------------------------
# Upstream's serde and thread-lookup wording (observed with codex 0.169.0), then our own.

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
CODEX_STARTING = "codex app-server is starting"
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
CALL_SERVER_REQUEST_REFUSED = "appserver call cannot answer server requests"
CALL_CONNECTION_LOST = "connection to {target} was lost before the answer"
CALL_CONNECTION_CLOSED = "{target} closed the connection before the answer: {code}{reason}"

# --- stdin and stdout (appserver.stdio_streams: stdio transport, proxy, remote connect) ----

#: Logged (%-style) for a stdin line that is dropped: its size, then the limit.
STDIN_LINE_TOO_LONG = "dropping a stdin line of %d bytes (limit %d)"
#: Logged (%-style) for a stdin line that is not UTF-8: the decoder's error.
STDIN_LINE_NOT_UTF8 = "dropping a stdin line that is not valid UTF-8: %s"
#: Why writes to stdout stopped when the loop did not say (its reader went away).
STDOUT_CLOSED = "stdout was closed"

# --- moved here from the modules that raise them (ours unless noted) -------------------------

WS_AUTH_BAD_MODE = "invalid --ws-auth `{mode}`"
BUILTIN_NOT_RUNNING = "the built-in backend is not running"
CODEX_CANNOT_RUN = "cannot run `{bin}`: {err}"
CODEX_EXITED_AT_START = "it exited during start-up ({status}); see its log above"
CODEX_SOCKET_SILENT = "its socket did not answer within {seconds:.0f}s ({err})"
CALL_INITIALIZE_FAILED = "initialize failed: {message}"
CALL_BAD_PARAMS_JSON = "invalid PARAMS_JSON: {err}"
HOME_NOT_SET = "HOME is not set"
LISTEN_OFF_COMBINED = "`--listen off` cannot be combined with other --listen URLs"
LISTEN_STDIO_TWICE = "`--listen stdio://` may be given only once"
LISTEN_TWICE = "--listen `{url}` is given twice"
BACKEND_UNIX_NO_PATH = "invalid --backend `unix://`; expected `unix://PATH` naming an app-server control socket"
BACKEND_INVALID = "invalid --backend `{value}`; expected `auto`, `builtin`, `codex` or `unix://PATH`"
BACKEND_UNIX_BARE = "invalid --backend `unix`; expected `unix://PATH`"
BACKEND_SESSION_CLOSED = "session is closed"
WS_CANNOT_LISTEN = "cannot listen on {url}: {reason}"
SOCKET_DIR_NOT_OURS = "{dir} must be a directory owned by uid {uid} (not a symlink)"
SOCKET_SETUP_FAILED = "cannot set up app-server control socket at {path}: {err}"
SOCKET_BIND_FAILED = "cannot bind app-server control socket at {path}: {err}"
SOCKET_LOCK_TIMEOUT = "timed out after {seconds:.0f}s waiting for {path}"
CA_FILE_UNREADABLE = "cannot load --ca-file `{path}`: {reason}; it must be a PEM file with one or more CERTIFICATE blocks"
SOCK_AND_CONNECT = "`--sock` and `--connect` cannot be used together"
CONNECT_URL_INVALID = "invalid --connect URL `{url}`; expected `ws://HOST:PORT` or `wss://HOST:PORT`"
CA_FILE_NEEDS_WSS = "`--ca-file` requires a `wss://` `--connect` URL"
CONNECT_REFUSED = "{target}: the server refused the WebSocket upgrade with HTTP {status} {phrase}{detail}"
CONNECT_TLS_UNTRUSTED = "TLS handshake with {target} failed: certificate verify failed: {detail}"
CONNECT_TLS_FAILED = "TLS handshake with {target} failed: {detail}"
CONNECT_TIMED_OUT = "timed out after {seconds:.0f}s connecting to {target}"
CONNECT_UPGRADE_FAILED = "WebSocket upgrade with {target} failed: {detail}"
CONNECT_FAILED = "failed to connect to {target}: {detail}"

# --- remote control: the wire shared by host and relay (appserver.remote_control) ---------

#: Why a message could not be sent over the remote-control link (logged; upstream drops it).
RC_MESSAGE_TOO_LARGE = "message of {size} bytes exceeds the remote-control message size limit"
RC_MESSAGE_CANNOT_FIT = "message cannot be cut into remote-control envelopes within the size limit"

# --- remote control: the host (appserver.remote_control) ---------------------------------
# Upstream's texts (spec/remote-control.md §2–§10, remote-control-observed.md §3), then ours.

RC_REQUIRES_CHATGPT = "remote control requires ChatGPT authentication"
RC_API_KEY_NOT_SUPPORTED = (
    "remote control requires ChatGPT authentication; API key auth is not supported"
)
RC_WAITING_FOR_ACCOUNT = "remote control enrollment is waiting for a ChatGPT account id"
RC_REFRESH_DEFERRED = "remote control server token refresh deferred until {until}"
RC_HTTP_FAILED = "remote control {kind} failed at `{url}`: HTTP {status}, {headers}, body: {preview}"
RC_HTTP_PARSE_FAILED = (
    "failed to parse remote control {kind} response from `{url}`: HTTP {status}, {headers}, "
    "body: {preview}, decode error: {error}"
)
RC_HTTP_SEND_FAILED = "failed to {action} remote control server at `{url}`: {error}"
RC_HTTP_CLIENT_SEND_FAILED = "failed to send remote control {kind} request to `{url}`: {error}"
RC_HTTP_HEADERS = "request-id: {request_id}, cf-ray: {cf_ray}"
RC_TOKEN_EXPIRY_PARSE = "failed to parse remote control server token expiry from `{url}`: {error}"
RC_REFRESH_MISMATCH = (
    "remote control server refresh returned mismatched enrollment: expected server_id={sid}, "
    "environment_id={eid}; got server_id={got_sid}, environment_id={got_eid}"
)
RC_PAIRING_MISMATCH = (
    "remote control pairing returned mismatched enrollment: expected server_id={sid}, "
    "environment_id={eid}; got server_id={got_sid}, environment_id={got_eid}"
)
RC_PAIRING_EXPIRY_PARSE = "remote control pairing expires_at parse error: {error}"
RC_LAST_SEEN_PARSE = "failed to parse remote control client last_seen_at `{value}`: {error}"
RC_PAIRING_UNAVAILABLE = "remote control pairing is unavailable until enrollment completes"
RC_PAIRING_REQUIRES_ENABLED = "remote control pairing requires remote control to be enabled"
RC_PAIRING_STATUS_BOTH = (
    "remoteControl/pairing/status accepts either pairingCode or manualPairingCode, not both"
)
RC_PAIRING_STATUS_NEITHER = "remoteControl/pairing/status requires pairingCode or manualPairingCode"
RC_CLIENT_LIST_NEEDS_ENV = "remote control client list requires environmentId"
RC_CLIENT_LIST_LIMIT = "remote control client list limit must be between 1 and 100"
RC_CLIENT_REVOKE_NEEDS_ENV = "remote control client revoke requires environmentId"
RC_CLIENT_REVOKE_NEEDS_CLIENT = "remote control client revoke requires clientId"
RC_UNAVAILABLE = "remote control is unavailable for this app-server"
RC_SQLITE_UNAVAILABLE = "remote control cannot be enabled because sqlite state db is unavailable"
RC_WS_AUTH_FAILED = (
    "remote control websocket auth failed with HTTP {status}; refreshing server token before reconnect"
)
RC_WS_CONNECT_FAILED = (
    "failed to connect app-server remote control websocket `{url}`: HTTP error: {status}, "
    "{headers}, body: {preview}"
)
RC_WS_PONG_TIMEOUT = "remote control websocket pong timeout"
RC_SERVER_NOT_FOUND_BODY = {"detail": "Remote app server not found"}

# Ours: base URLs (we allow https to any host; plain http only to loopback, where codex
# allows only chatgpt.com domains and localhost), credentials, the state file.
RC_URL_INVALID = "invalid remote control URL `{url}`; expected an https:// URL, or http:// to localhost"
RC_URL_PLAIN_HTTP = (
    "refusing remote control URL `{url}`: plain http to `{host}` would send the bearer token "
    "in clear; use https://, or http:// only to localhost or a loopback address"
)
RC_TOKEN_FILE_UNREADABLE = "cannot read --remote-control-token-file {path}: {err}"
RC_TOKEN_FILE_EMPTY = "--remote-control-token-file {path} is empty"
RC_TOKEN_FILE_NO_ACCOUNT = (
    "--remote-control-token-file {path} is not a relay account credential: "
    "no chatgpt_account_id claim in its payload"
)
RC_TOKEN_FILE_NEEDS_URL = "`--remote-control-token-file` requires `--remote-control URL`"
RC_AUTH_JSON_UNREADABLE = "cannot read {path}: {err}"
RC_STATE_UNAVAILABLE = "remote control state {path} is unavailable: {err}"
RC_STATE_CORRUPT = "remote control state {path} is not a database; moved it to {moved} and started a fresh one"
RC_CLOSE_REASON_CLIENT_CLOSED = "controller closed the stream"
RC_CLOSE_REASON_IDLE = "controller stream idle"
RC_CLOSE_REASON_REINITIALIZED = "controller re-initialized the stream"
RC_BANNER_TITLE = "appserver (remote control)"
RC_BANNER_RELAY = "  relay: {url}"
RC_BANNER_STATUS = "  status: {status} (server name {name}, installation {installation})"
RC_BANNER_STATE = "  state: {path}"

# --- relay (appserver.relay) ---------------------------------------------------------------
# Ours; docs/relay.md. HTTP error bodies are {"detail": <one of these>}.

RELAY_NOT_FOUND = "Not Found"
#: The host WebSocket handshake for an unknown server: codex re-enrolls on exactly this body.
RELAY_SERVER_NOT_FOUND = "Remote app server not found"
RELAY_MISSING_BEARER = "missing or malformed Authorization bearer"
RELAY_BAD_CREDENTIAL = "invalid or revoked credential"
RELAY_ACCOUNT_MISMATCH = "chatgpt-account-id does not match the credential"
RELAY_BAD_HOST_TOKEN = "invalid or expired remote control token"
RELAY_HOST_TOKEN_OTHER_SERVER = "the remote control token belongs to another server"
RELAY_MISSING_SERVER_ID = "missing x-codex-server-id"
RELAY_UNKNOWN_SERVER = "server not found"
RELAY_ENVIRONMENT_NOT_FOUND = "environment not found"
RELAY_CLIENT_NOT_FOUND = "client not found"
RELAY_BAD_JSON = "request body is not valid JSON"
RELAY_BODY_NOT_OBJECT = "request body must be a JSON object"
RELAY_BODY_TOO_LARGE = "request body too large"
RELAY_FIELD_TYPE = "`{field}` must be {expected}"
RELAY_FIELD_MISSING = "missing field `{field}`"
RELAY_PAIR_STATUS_ONE_CODE = "exactly one of `pairing_code` or `manual_pairing_code` is required"
RELAY_PAIRING_NOT_FOUND = "pairing code not found"
RELAY_PAIRING_EXPIRED = "pairing code expired"
RELAY_CLAIM_NOT_FOUND = "pairing code not found or expired"
RELAY_CLAIM_RATE_LIMITED = "too many pairing attempts; retry later"
RELAY_BAD_LIMIT = "limit must be an integer between 1 and {max}"
RELAY_BAD_ORDER = "order must be asc or desc"
RELAY_BAD_CURSOR = "invalid cursor"
RELAY_TOO_MANY_HOSTS = "this account has too many hosts ({max}); remove one first"
RELAY_TOO_MANY_DEVICES = "this host has too many paired devices ({max}); revoke one first"
RELAY_TOO_MANY_STREAMS = "too many open streams for this device or host"
RELAY_BAD_DEVICE_TOKEN = "invalid or revoked device token"
#: A relay node's direct socket to another node with a wrong cluster secret (docs/relay.md).
RELAY_BAD_NODE_SECRET = "invalid relay node credential"
RELAY_WEBSOCKET_REQUIRED = "WebSocket upgrade required"

#: Controller close reasons (codes in limits.py).
RELAY_CLOSE_REVOKED = "device revoked"
RELAY_CLOSE_EXPIRED = "stream expired"
RELAY_CLOSE_TOO_SLOW = "controller too slow"
RELAY_CLOSE_BINARY = "binary frames are not supported"
RELAY_CLOSE_SHUTDOWN = "relay shutting down"
RELAY_CLOSE_RESUMED_ELSEWHERE = "stream resumed on another socket"
RELAY_CLOSE_REPLACED = "replaced by a newer connection of this server"
RELAY_CLOSE_SERVER_REMOVED = "server removed"
RELAY_CLOSE_BAD_RESUME = "received count is ahead of what the relay sent"

#: JSON-RPC error (-32000) for a request the relay could not deliver to an offline host.
RELAY_HOST_OFFLINE = "host is offline; the request was not delivered"
#: JSON-RPC error (-32000) for a request handed to the host before it went offline, unanswered.
RELAY_HOST_OFFLINE_UNANSWERED = "host is offline; the request was sent but not answered"

# Command line.
RELAY_LISTEN_BAD = "invalid --listen URL `{url}`; expected `http://IP:PORT` or `https://IP:PORT`"
RELAY_TLS_NEEDS_HTTPS = "--tls-cert and --tls-key require an `https://IP:PORT` --listen URL"
RELAY_HTTPS_NEEDS_TLS = "`{url}` needs --tls-cert and --tls-key"
RELAY_PLAIN_NOT_LOOPBACK = (
    "refusing plain http on the non-loopback address `{url}`: use https:// with --tls-cert/--tls-key, "
    "or --behind-proxy when a TLS-terminating reverse proxy is in front"
)
RELAY_PUBLIC_URL_BAD = "invalid --public-url `{url}`; expected an http:// or https:// URL"
RELAY_LISTEN_FAILED = "cannot listen on {host}:{port}: {err}"
RELAY_STATE_FAILED = "cannot open the relay state `{path}`: {err}"
RELAY_ACCOUNT_EXISTS = "account `{name}` already exists"
RELAY_ACCOUNT_UNKNOWN = "no account named `{name}`"
RELAY_ACCOUNT_NAME_BAD = "account names are 1-64 letters, digits, `.`, `_`, `-` or `@`"
RELAY_DEVICE_UNKNOWN = "no paired device `{client_id}`"
RELAY_URL_BAD = "invalid --relay `{url}`; expected the relay's http:// or https:// root URL"
RELAY_OUT_NOT_EMPTY = "`{path}` exists and is not an empty folder (use --force to overwrite its files)"
RELAY_BANNER = "appserver relay {version}: listening on {url} (public URL {public}, state {state})"


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
CONTROLLER_CANNOT_READ = "cannot read {path}: {err}"
CONTROLLER_CANNOT_REMOVE = "cannot remove {path}: {err}"
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
#: Why a controller stream was lost (StreamLost.reason; logged, and the {reason} above).
CONTROLLER_LOST_TOO_MANY = "too many messages waiting"
CONTROLLER_LOST_TOO_MANY_WAITING = "too many messages waiting for the relay to come back"
CONTROLLER_LOST_MALFORMED = "the relay sent a malformed relay/stream frame"
CONTROLLER_LOST_NOT_RESUMED = "the relay could not resume the stream"
CONTROLLER_LOST_COUNT_AHEAD = "the relay counts more messages than were sent"
CONTROLLER_LOST_NOT_HELD = "the relay missed messages that are no longer held"
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
    "remote control is off on this gateway; start it with "
    "`--remote-control URL --remote-control-token-file FILE`"
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

# --- hardening: bad input at the boundaries ---------------------------------------------------

#: -32603 answer when a built-in handler fails unexpectedly (the cause is logged, not sent).
BUILTIN_HANDLER_FAILED = "internal error while handling `{method}`"
#: The failed turn's error message (``turn/completed`` with status ``failed``).
BUILTIN_TURN_FAILED = "the built-in agent failed to run this turn"

#: Close reason (code 1013) for a connection over limits.MAX_CONNECTIONS.
CLOSE_REASON_TOO_MANY = "too many connections; try again later"

#: ``appserver call --wait-for``: the notification did not come.
CALL_WAIT_TIMED_OUT = "no `{method}` notification within {seconds:g}s after the answer"

#: INFO line when a client's TLS handshake to a wss:// listener fails (peer, reason only).
TLS_HANDSHAKE_FAILED = "tls handshake failed: peer=%s transport=wss reason=%s"

#: The TCP banner's auth line when no --ws-auth is set.
WS_BANNER_NO_AUTH = "none (loopback only)"

#: 400 body for an upgrade request that arrives pipelined behind other HTTP requests.
HTTP_PIPELINED_UPGRADE = "a WebSocket upgrade cannot follow other pipelined requests"

#: -32603 instead of an answer too large for any transport (e.g. thread/read of a huge turn).
MESSAGE_TOO_LARGE = (
    "the answer is {size} bytes, over the {limit}-byte message limit; "
    "read it in pages (thread/turns/list, thread/items/list)"
)

#: LOG_LEVEL / --log-level with a name that is not a level.
LOG_LEVEL_INVALID = "invalid log level `{level}`; expected one of {levels}"

#: ``appserver --version``.
VERSION_LINE = "appserver {version} (codex app-server protocol {codex})"
#: ``-c`` given, but no codex child is started to receive it.
OVERRIDES_UNUSED = "ignoring {count} `-c` override(s): they configure a codex child, and {chosen} starts none"

# `--auth-token-file` for `appserver call` and `appserver proxy`.
AUTH_TOKEN_SOURCES_EXCLUSIVE = "`--auth-token-env` and `--auth-token-file` are mutually exclusive"
AUTH_TOKEN_FILE_REQUIRES_CONNECT = "`--auth-token-file` requires `--connect`."
AUTH_TOKEN_FILE_REQUIRES_SECURE = (
    "`--auth-token-file` requires a `wss://` or loopback `ws://` URL; got `{url}`"
)
AUTH_TOKEN_FILE_UNREADABLE = "cannot read --auth-token-file {path}: {err}"
AUTH_TOKEN_FILE_EMPTY = "--auth-token-file {path} is empty"

# --- relay cluster (Redis) -------------------------------------------------------------------
RELAY_REDIS_FAILED = "cannot use Redis for the relay state: {err}"
#: HTTP 503 body while the shared state (Redis) is unreachable.
RELAY_STORE_UNAVAILABLE = "the relay's state is unavailable; try again shortly"
RELAY_REDIS_URL_BAD = "invalid --redis `{url}`; expected redis://HOST:PORT/DB, rediss://... or unix:///PATH"
RELAY_NODE_URL_BAD = "invalid --node-url `{url}`; expected http://HOST:PORT or https://HOST:PORT"
RELAY_NODE_URL_NEEDS_REDIS = "--node-url is for relay cluster nodes: it needs --redis"
RELAY_REDIS_AND_STATE = "--redis and --state are exclusive: a relay keeps its state in one place"
#: StoreError / StoreUnavailable texts of the Redis store (shown in `Error:` lines and logs).
RELAY_REDIS_UNREACHABLE = "Redis is unreachable ({kind})"
RELAY_REDIS_REFUSED = "Redis refused the operation: {reason}"
RELAY_REDIS_URL_REFUSED = "bad Redis URL `{url}`: {err}"
RELAY_REDIS_CANNOT_REACH = "cannot reach Redis at {url}: {reason}"
RELAY_STORE_ADD_SERVER_FAILED = "cannot add server: {answer}"
RELAY_STORE_PAIRING_UNKNOWN_SERVER = "cannot add a pairing code: unknown server"

# --- the per-message path: event loop ----------------------------------------------------------
EVENT_LOOP_UNKNOWN = "invalid APPSERVER_EVENT_LOOP `{value}`; expected one of: {choices}"
EVENT_LOOP_NO_UVLOOP = "APPSERVER_EVENT_LOOP=uvloop, but uvloop is not installed; use auto or asyncio"
EVENT_LOOP_NO_TLS = "APPSERVER_EVENT_LOOP=uvloop does not support wss:// listeners yet; use auto or asyncio"
