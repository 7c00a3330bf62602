"""SIGHUP: read again the files ``appserver serve`` was pointed at, without dropping clients.

What is reloaded: the capability-token file or the JWT shared secret (``--ws-token-file``,
``--ws-shared-secret-file``) and the ``wss://`` certificate and key (``--tls-cert``,
``--tls-key``). New upgrades and TLS handshakes use the new files; open connections stay.
A file that no longer loads (missing, empty, not PEM, key not matching) is reported with
one ERROR line and the current one stays in force.

The loaders are registered by :func:`appserver.startup.websocket_security`, once per
``appserver serve`` process; :func:`reload_all` runs them (appserver.server on SIGHUP).
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable

from appserver import auth_config, tls
from appserver.auth import AuthMode, Policy
from appserver.config import TlsConfig
from appserver.errors import ConfigError

log = logging.getLogger("appserver.reload")

_reloaders: list[tuple[str, Callable[[], None]]] = []


class ReloadablePolicy:
    """The ``--ws-auth`` policy, swapped for a freshly loaded one on :meth:`reload`."""

    def __init__(self, settings: auth_config.AuthSettings, policy: Policy) -> None:
        self.settings = settings
        self.current = policy

    @property
    def mode(self) -> AuthMode:
        return self.current.mode

    def authorize(self, authorization: str | None, now: int) -> None:
        self.current.authorize(authorization, now)

    def reload(self) -> None:
        self.current = auth_config.load_policy(self.settings)  # ConfigError: keep the old

    def __repr__(self) -> str:
        return f"<ReloadablePolicy {self.current!r}>"


def reload_tls(context: ssl.SSLContext, files: TlsConfig) -> None:
    """Load the certificate chain again into the live context (checked first on a new one)."""
    tls.server_context(files)  # every start-up check; raises ConfigError
    context.load_cert_chain(files.cert, files.key)


def register(what: str, reload: Callable[[], None]) -> None:
    _reloaders.append((what, reload))


def clear() -> None:
    _reloaders.clear()


def reload_all() -> int:
    """Run every loader; the number that failed (each logged; the old file stays in use)."""
    failed = 0
    for what, reload in list(_reloaders):
        try:
            reload()
        except (ConfigError, OSError, ssl.SSLError) as exc:
            failed += 1
            log.error("SIGHUP: keeping the current %s: %s", what, exc)
        else:
            log.info("SIGHUP: reloaded %s", what)
    if not _reloaders:
        log.info("SIGHUP: nothing to reload (no token, secret or certificate files)")
    return failed
