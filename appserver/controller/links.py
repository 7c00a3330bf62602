"""Pairing links and relay URLs (sans-I/O; the controller API in docs/relay.md).

A pairing link is ``<public_url>#pair=<pairing_code>``: the relay's public URL (always
ending in ``/``) with the code in the fragment, so it never reaches a server log. The CLI
controller accepts the link, or a bare code (a pairing code or a typed manual code) with
``--relay URL``. The relay URL must be ``https://`` or loopback ``http://``: the device
credential travels over it (the same rule as the host's ``--remote-control`` URL).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit, urlunsplit

from appserver import strings
from appserver.errors import ConfigError
from appserver.url_rules import is_loopback_host, split_http_base, with_trailing_slash

PAIR_FRAGMENT = "pair"


@dataclass(frozen=True)
class PairingTarget:
    """Where to claim a code: the relay's public URL (ending in ``/``) and the code."""

    relay_url: str
    code: str

    def __repr__(self) -> str:  # the code is a secret until claimed
        return f"<PairingTarget relay={self.relay_url}>"


def normalize_relay_url(url: str) -> str:
    """``http(s)://host[:port]/path/`` with the trailing ``/``; ``ConfigError`` if unsafe.

    Stricter than the host's ``--remote-control`` base: no query and no user info (the
    link is shown and shared; the fragment, where a pairing code rides, is dropped)."""
    parts = split_http_base(url)
    if parts is None or parts.hostname is None or parts.query or parts.username or parts.password:
        raise ConfigError(strings.CONTROLLER_BAD_RELAY_URL.format(url=url))
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise ConfigError(strings.CONTROLLER_INSECURE_RELAY.format(host=parts.hostname))
    return urlunsplit((parts.scheme, parts.netloc, with_trailing_slash(parts.path), "", ""))


def pairing_link(relay_url: str, code: str) -> str:
    """The link a QR code carries: ``<relay_url>#pair=<code>``."""
    return f"{relay_url}#{PAIR_FRAGMENT}={code}"


def parse_pairing(text: str, relay: str | None = None) -> PairingTarget:
    """A pairing link, or a bare code with ``relay``; ``ConfigError`` (exit 2) otherwise."""
    text = text.strip()
    if "#" in text or "://" in text:
        base, _, fragment = text.partition("#")
        codes = parse_qs(fragment).get(PAIR_FRAGMENT, [])
        if len(codes) != 1 or not codes[0].strip():
            raise ConfigError(strings.CONTROLLER_BAD_LINK)
        relay_url = normalize_relay_url(base)
        if relay is not None and normalize_relay_url(relay) != relay_url:
            raise ConfigError(
                strings.CONTROLLER_RELAY_MISMATCH.format(link=relay_url, relay=relay)
            )
        return PairingTarget(relay_url, codes[0].strip())
    if not text:
        raise ConfigError(strings.CONTROLLER_EMPTY_CODE)
    if relay is None:
        raise ConfigError(strings.CONTROLLER_CODE_NEEDS_RELAY)
    return PairingTarget(normalize_relay_url(relay), text)


def controller_ws_url(relay_url: str, stream_id: str | None = None, received: int = 0) -> str:
    """The controller WebSocket URL of ``relay_url``, with the resume query if resuming."""
    parts = urlsplit(relay_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    query = f"stream={stream_id}&received={received}" if stream_id is not None else ""
    return urlunsplit((scheme, parts.netloc, parts.path + "api/v1/controller/ws", query, ""))


def claim_url(relay_url: str) -> str:
    return relay_url + "api/v1/pair/claim"
