"""Start-up checks of ``appserver serve`` that read files: done once, before anything binds.

The command validates flags (sans-I/O: appserver.auth, appserver.tls.check_flags); this
module then reads what they name — the WebSocket auth secret, the TLS certificate and
key — exactly once, and refuses unsafe listeners (non-loopback without auth), so every
failure is one ``Error:`` line before a side effect, and the listeners only use what was
loaded here.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence

from appserver import auth, auth_config, reload, tls
from appserver.config import ListenKind, ListenUrl
from appserver.transports.tcp import check_startup


def websocket_security(
    listens: Sequence[ListenUrl], auth_args: auth_config.AuthArgs, tls_cert: str | None, tls_key: str | None
) -> tuple[auth.Policy | None, ssl.SSLContext | None]:
    """The loaded auth policy and server TLS context for the ``ws://``/``wss://`` listeners.

    Flag combinations are checked always (like upstream); secret and certificate files are
    read only when a ``ws://``/``wss://`` listener will use them.
    """
    settings = auth_config.validate_args(auth_args)
    tls_config = tls.check_flags(tls_cert, tls_key, listens)
    tcp = [listen for listen in listens if listen.kind in (ListenKind.WS, ListenKind.WSS)]
    if not tcp:
        return None, None
    policy = auth_config.load_policy(settings) if settings is not None else None
    for listen in tcp:
        check_startup(listen, policy)
    context = tls.server_context(tls_config) if tls_config is not None else None
    # SIGHUP reloads the files (appserver.reload); the listeners keep these objects.
    reload.clear()
    if settings is not None and policy is not None:
        reloadable = reload.ReloadablePolicy(settings, policy)
        if not getattr(settings, "token_sha256", None):
            reload.register("websocket auth secret", reloadable.reload)
        policy = reloadable
    if context is not None and tls_config is not None:
        live, files = context, tls_config
        reload.register("TLS certificate and key", lambda: reload.reload_tls(live, files))
    return policy, context
