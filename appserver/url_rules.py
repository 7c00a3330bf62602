"""The URL rules every client of a remote endpoint shares. Sans-I/O.

A credential (a bearer token, a device token) travels only over TLS or to a loopback
host: :func:`is_loopback_host` is that test, the same as codex's
``websocket_url_supports_auth_token``. :func:`split_http_base` is the common first step of
the two ``http(s)://`` base URLs a user gives us, the host's ``--remote-control`` URL
(:func:`appserver.remote_control.urls.normalize`) and the controller's ``--relay`` URL
(:func:`appserver.controller.links.normalize_relay_url`); each then applies its own rules
and messages.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import SplitResult, urlsplit


def is_loopback_host(host: str) -> bool:
    """``localhost`` (any case), 127.0.0.0/8 or ::1 (``foo.localhost`` is not)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def split_http_base(url: str) -> SplitResult | None:
    """``url`` (surrounding blanks ignored) split, if it is ``http``/``https`` with a host and
    a valid port (scheme and host come lowercased); ``None`` otherwise."""
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return parts


def with_trailing_slash(path: str) -> str:
    """A base URL's path ends in ``/``, so relative targets are joined under it."""
    return path if path.endswith("/") else path + "/"
