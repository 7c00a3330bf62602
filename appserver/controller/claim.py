"""Claiming a pairing code at the relay: ``POST <relay>api/v1/pair/claim`` (docs/relay.md)."""

from __future__ import annotations

import dataclasses
import logging
import platform
import time
from typing import Any

import httpx

from appserver import __version__, limits, strings
from appserver.errors import RuntimeFailure
from appserver.controller.credentials import Device, device_from_claim
from appserver.controller.links import PairingTarget, claim_url


# httpx logs every request at INFO; a one-shot command's output has its own line for it.
logging.getLogger("httpx").setLevel(logging.WARNING)


def device_fields(display_name: str) -> dict[str, str]:
    """What the host's `devices list` shows about this controller."""
    return {
        "display_name": display_name,
        "device_type": "cli",
        "platform": platform.system().lower() or "unknown",
        "os_version": platform.release(),
        "device_model": platform.machine(),
        "app_version": f"appserver {__version__}",
    }


def _detail(response: httpx.Response) -> str:
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("detail"), str):
        return body["detail"][: limits.CONTROLLER_RELAY_DETAIL_CHARS]
    return (response.text.strip().splitlines() or [response.reason_phrase])[0][: limits.CONTROLLER_RELAY_DETAIL_CHARS]


async def claim(target: PairingTarget, name: str, display_name: str) -> Device:
    """Claim ``target``'s code; the new device (not yet saved). ``RuntimeFailure`` on errors."""
    body = {"code": target.code, **device_fields(display_name)}
    url = claim_url(target.relay_url)
    try:
        async with httpx.AsyncClient(timeout=limits.CONTROLLER_CLAIM_TIMEOUT) as client:
            response = await client.post(
                url, json=body, headers={"user-agent": f"appserver-remote/{__version__}"}
            )
    except httpx.HTTPError as exc:
        reason = str(exc) or type(exc).__name__
        raise RuntimeFailure(
            strings.CONTROLLER_RELAY_UNREACHABLE.format(url=target.relay_url, reason=reason)
        ) from None
    if response.status_code == 429:
        retry = response.headers.get("retry-after", "?")
        raise RuntimeFailure(strings.CONTROLLER_CLAIM_RATE_LIMITED.format(seconds=retry))
    if response.status_code != 200:
        raise RuntimeFailure(
            strings.CONTROLLER_CLAIM_REFUSED.format(
                status=response.status_code, detail=_detail(response)
            )
        )
    try:
        answer = response.json()
    except ValueError:
        answer = None
    device = device_from_claim(name, answer, int(time.time()))
    # Keep the URL that just worked (the link's, or --relay) rather than trusting the
    # answer's `relay_url` with the credential: they are the same for our relay.
    return dataclasses.replace(device, relay_url=target.relay_url)
