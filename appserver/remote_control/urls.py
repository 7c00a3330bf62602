"""Remote-control base URL rules and the URLs derived from the base. Sans-I/O.

spec/remote-control.md §2. Upstream accepts https only for chatgpt.com domains; a
self-hosted relay lives anywhere, so we accept **https to any host**, and **plain http
only to loopback** (``localhost`` exactly or a loopback IP literal): over plain http to
another host the bearer token would travel in clear. A path without a trailing ``/`` gets
one; targets are joined onto the base exactly as upstream does (nothing is stripped).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

from appserver import strings
from appserver.url_rules import is_loopback_host, split_http_base, with_trailing_slash

SERVER_PATH = "wham/remote/control/server"


class RemoteControlUrlError(ValueError):
    """The base URL is refused; ``str(err)`` is the one line shown to the user."""


@dataclass(frozen=True, slots=True)
class RemoteControlTarget:
    """The normalized base URL and every URL the host calls under it."""

    base_url: str
    enroll_url: str
    refresh_url: str
    pair_url: str
    pair_status_url: str
    websocket_url: str

    def clients_url(self, environment_id: str, client_id: str | None = None) -> str:
        """``…/environments/{env}/clients[/{client}]``, each id one percent-encoded segment."""
        url = urljoin(
            self.base_url, f"wham/remote/control/environments/{_segment(environment_id)}/clients"
        )
        if client_id is not None:
            url += "/" + _segment(client_id)
        return url

    def __repr__(self) -> str:
        return f"<RemoteControlTarget {self.base_url}>"


def _segment(value: str) -> str:
    # Upstream percent-encodes everything but unreserved characters (`env /?` -> `env%20%2F%3F`).
    return quote(value, safe="-._~")


def normalize(url: str) -> RemoteControlTarget:
    """Check and normalize ``url``; raises :class:`RemoteControlUrlError`."""
    parts = split_http_base(url)
    if parts is None or parts.hostname is None:
        raise RemoteControlUrlError(strings.RC_URL_INVALID.format(url=url))
    scheme, host = parts.scheme, parts.hostname
    if scheme == "http" and not is_loopback_host(host):
        raise RemoteControlUrlError(strings.RC_URL_PLAIN_HTTP.format(url=url, host=host))
    base = urlunsplit((scheme, parts.netloc, with_trailing_slash(parts.path), parts.query, ""))
    ws_scheme = "wss" if scheme == "https" else "ws"
    server = urljoin(base, SERVER_PATH)
    ws_parts = urlsplit(server)
    return RemoteControlTarget(
        base_url=base,
        enroll_url=urljoin(base, SERVER_PATH + "/enroll"),
        refresh_url=urljoin(base, SERVER_PATH + "/refresh"),
        pair_url=urljoin(base, SERVER_PATH + "/pair"),
        pair_status_url=urljoin(base, SERVER_PATH + "/pair/status"),
        websocket_url=urlunsplit((ws_scheme, *ws_parts[1:])),
    )


#: Codex's default ``chatgpt_base_url``: where a plain ``remoteControl/enable`` goes when
#: the gateway was started without ``--remote-control``.
DEFAULT_BASE_URL = "https://chatgpt.com/backend-api/"
