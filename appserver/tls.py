"""Native TLS for ``wss://IP:PORT`` listeners (ours; upstream has no TLS listener).

:func:`check_flags` validates ``--tls-cert``/``--tls-key`` against the listen URLs;
:func:`server_context` loads the PEM files into a TLS 1.2+ server context, turning every
failure into one clear :class:`ConfigError` line (missing, unreadable, not PEM, encrypted
key, key not matching the certificate).
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from pathlib import Path

from appserver import strings
from appserver.config import ListenKind, ListenUrl, TlsConfig
from appserver.errors import ConfigError, os_error_text


def check_flags(cert: str | None, key: str | None, listens: Sequence[ListenUrl]) -> TlsConfig | None:
    """The TLS config the listeners need, or ``None``; :class:`ConfigError` if inconsistent."""
    if (cert is None) != (key is None):
        raise ConfigError(strings.TLS_FLAGS_TOGETHER)
    wss = [listen for listen in listens if listen.kind is ListenKind.WSS]
    if cert is None or key is None:
        if wss:
            raise ConfigError(strings.TLS_REQUIRED.format(url=wss[0].url))
        return None
    if not wss:
        raise ConfigError(strings.TLS_FLAGS_NEED_WSS)
    return TlsConfig(cert=Path(cert).absolute(), key=Path(key).absolute())


def _read_pem(flag: str, path: Path, marker: str, what: str) -> None:
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            strings.TLS_UNREADABLE.format(flag=flag, path=path, err=os_error_text(exc))
        ) from None
    if b"-----BEGIN " not in text or marker.encode() not in text:
        raise ConfigError(strings.TLS_NOT_PEM.format(flag=flag, path=path, what=what))


class _EncryptedKey(Exception):
    pass


def _no_password() -> bytes:
    # Called by OpenSSL only for an encrypted key; never prompt on the terminal.
    raise _EncryptedKey


def server_context(tls: TlsConfig) -> ssl.SSLContext:
    """A server context for ``tls`` (TLS 1.2 or newer, HTTP/1.1 ALPN)."""
    _read_pem("--tls-cert", tls.cert, "CERTIFICATE-----", "certificate")
    _read_pem("--tls-key", tls.key, "PRIVATE KEY-----", "private key")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["http/1.1"])
    try:
        context.load_cert_chain(tls.cert, tls.key, password=_no_password)
    except _EncryptedKey:
        raise ConfigError(strings.TLS_KEY_ENCRYPTED.format(path=tls.key)) from None
    except ssl.SSLError as exc:
        if "KEY_VALUES_MISMATCH" in str(exc) or "key values mismatch" in str(exc):
            raise ConfigError(strings.TLS_MISMATCH.format(key=tls.key, cert=tls.cert)) from None
        raise ConfigError(
            strings.TLS_LOAD_FAILED.format(cert=tls.cert, key=tls.key, err=exc.reason or exc)
        ) from None
    return context
