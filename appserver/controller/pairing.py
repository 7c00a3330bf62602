"""``appserver pair`` and ``appserver devices``: the host's side of pairing, over the
gateway's control socket with the ``remoteControl/*`` methods (spec/remote-control.md §6).

``pair`` calls ``remoteControl/pairing/start``, shows the pairing link as a QR code
(segno, in the terminal), as text and, if asked, the manual code; counts the expiry down
while polling ``remoteControl/pairing/status``; and ends with the claimed device's name
(exit 0) or a clear message (exit 1) when the code expires.
"""

from __future__ import annotations

import io
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

import anyio
import segno

from appserver import jsonrpc, limits, strings
from appserver.call import Answer, CallFailed, Caller, connected
from appserver.connect import Target
from appserver.errors import ConnectFailed, RuntimeFailure


def qr_text(link: str) -> str:
    """The QR code of ``link`` as terminal text (two modules per character, light border).

    Light modules are drawn, dark ones are blank, so it reads on a dark terminal; phone
    scanners read both polarities.
    """
    out = io.StringIO()
    segno.make(link, error="m").terminal(out=out, compact=True)
    return out.getvalue()


def countdown(seconds_left: float) -> str:
    left = max(0, int(seconds_left))
    return f"{left // 60}:{left % 60:02d}"


def _failure(method: str, answer: Answer) -> RuntimeFailure:
    """A one-line failure for a ``remoteControl/*`` error, naming the usual causes."""
    error = answer.payload if isinstance(answer.payload, dict) else {}
    message = str(error.get("message", answer.payload))
    code = error.get("code")
    if "requires remote control to be enabled" in message:
        return RuntimeFailure(strings.PAIR_REMOTE_CONTROL_OFF)
    if code in (jsonrpc.METHOD_NOT_FOUND, jsonrpc.INTERNAL_ERROR) and (
        "unavailable" in message or "not supported" in message
    ):
        return RuntimeFailure(strings.PAIR_REMOTE_CONTROL_UNAVAILABLE.format(message=message))
    return RuntimeFailure(strings.PAIR_FAILED.format(method=method, message=message))


async def _call(s: Caller, method: str, params: Any = None) -> Any:
    answer = await s.request(method, params)
    if not answer.ok:
        raise _failure(method, answer)
    return answer.payload


class _Connected:
    """``connected(target)`` with the gateway-not-running message."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self._cm: Any = None

    async def __aenter__(self) -> Caller:
        self._cm = connected(self.target)
        try:
            return await self._cm.__aenter__()
        except ConnectFailed as exc:
            raise RuntimeFailure(
                strings.PAIR_GATEWAY_NOT_RUNNING.format(path=self.target, reason=_reason(exc))
            ) from None
        except CallFailed as exc:
            raise RuntimeFailure(str(exc)) from None

    async def __aexit__(self, *exc: object) -> None:
        await self._cm.__aexit__(*exc)


def _reason(exc: ConnectFailed) -> str:
    text = str(exc)
    return text.rsplit(": ", 1)[-1] if ": " in text else text


async def _require_enabled(s: Caller) -> dict[str, Any]:
    status = await _call(s, "remoteControl/status/read")
    if not isinstance(status, dict) or status.get("status") == "disabled":
        raise RuntimeFailure(strings.PAIR_REMOTE_CONTROL_OFF)
    return status


async def _client_ids(s: Caller, environment_id: str) -> dict[str, str]:
    """``clientId -> displayName`` of the host's paired devices (empty if unavailable)."""
    answer = await s.request(
        "remoteControl/client/list", {"environmentId": environment_id, "limit": limits.CONTROLLER_CLIENT_LIST_PAGE}
    )
    if not answer.ok or not isinstance(answer.payload, dict):
        return {}
    return {
        c["clientId"]: c.get("displayName") or c["clientId"]
        for c in answer.payload.get("data") or []
        if isinstance(c, dict) and isinstance(c.get("clientId"), str)
    }


async def run_pair(
    target: Target,
    *,
    manual: bool,
    out: TextIO = sys.stdout,
    clock: Callable[[], float] = time.time,
    poll_interval: float = limits.PAIR_POLL_INTERVAL,
) -> str:
    """Show a pairing code until it is claimed; the device's name. ``RuntimeFailure`` else."""
    async with _Connected(target) as s:
        await _require_enabled(s)
        started = await _call(s, "remoteControl/pairing/start", {"manualCode": manual})
        if not isinstance(started, dict) or not isinstance(started.get("pairingCode"), str):
            raise RuntimeFailure(
                strings.PAIR_FAILED.format(
                    method="remoteControl/pairing/start", message="malformed result"
                )
            )
        environment_id = started.get("environmentId") or ""
        before = await _client_ids(s, environment_id) if environment_id else {}
        link = started.get("pairingUrl")
        manual_code = started.get("manualPairingCode")
        if isinstance(link, str) and link:
            out.write(qr_text(link))
            out.write(f"\n{strings.PAIR_SCAN_OR_OPEN}\n  {link}\n")
        else:
            out.write(f"{strings.PAIR_NO_LINK}\n  {started['pairingCode']}\n")
        if manual_code:
            out.write(f"{strings.PAIR_MANUAL_CODE.format(code=manual_code)}\n")
        out.flush()

        expires_at = started.get("expiresAt")
        expires_at = float(expires_at) if isinstance(expires_at, (int, float)) else clock() + 300
        tty = out.isatty()
        if not tty:  # a log or a pipe: the expiry once, no carriage returns
            out.write(strings.PAIR_COUNTDOWN.format(left=countdown(expires_at - clock())) + "\n")
            out.flush()
        while True:
            left = expires_at - clock()
            if left <= 0:
                if tty:
                    out.write("\n")
                raise RuntimeFailure(strings.PAIR_EXPIRED)
            if tty:
                out.write(f"\r{strings.PAIR_COUNTDOWN.format(left=countdown(left))} ")
                out.flush()
            status = await _call(
                s, "remoteControl/pairing/status", {"pairingCode": started["pairingCode"]}
            )
            if isinstance(status, dict) and status.get("claimed"):
                break
            await anyio.sleep(min(poll_interval, max(left, 0.0)))
        if tty:
            out.write("\n")
        after = await _client_ids(s, environment_id) if environment_id else {}
        new = [name for cid, name in after.items() if cid not in before]
        name = new[0] if len(new) == 1 else strings.PAIR_UNKNOWN_DEVICE
        out.write(strings.PAIR_CLAIMED.format(name=name) + "\n")
        out.flush()
        return name


async def run_devices_list(target: Target, out: TextIO = sys.stdout) -> None:
    async with _Connected(target) as s:
        status = await _call(s, "remoteControl/status/read")
        environment_id = status.get("environmentId") if isinstance(status, dict) else None
        if not environment_id:
            raise RuntimeFailure(strings.DEVICES_NO_ENVIRONMENT)
        clients: list[dict[str, Any]] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"environmentId": environment_id, "limit": limits.CONTROLLER_CLIENT_LIST_PAGE}
            if cursor:
                params["cursor"] = cursor
            page = await _call(s, "remoteControl/client/list", params)
            clients += [c for c in page.get("data") or [] if isinstance(c, dict)]
            cursor = page.get("nextCursor")
            if not cursor:
                break
        if not clients:
            out.write(strings.DEVICES_NONE + "\n")
            return
        for c in clients:
            seen = c.get("lastSeenAt")
            seen_text = (
                time.strftime("%Y-%m-%d %H:%M", time.localtime(seen)) if isinstance(seen, int) else "-"
            )
            kind = " ".join(str(c[k]) for k in ("deviceType", "platform") if c.get(k))
            out.write(f"{c['clientId']}\t{c.get('displayName') or '-'}\t{kind or '-'}\t{seen_text}\n")


async def run_devices_revoke(target: Target, client_id: str, out: TextIO = sys.stdout) -> None:
    async with _Connected(target) as s:
        status = await _call(s, "remoteControl/status/read")
        environment_id = status.get("environmentId") if isinstance(status, dict) else None
        if not environment_id:
            raise RuntimeFailure(strings.DEVICES_NO_ENVIRONMENT)
        await _call(
            s,
            "remoteControl/client/revoke",
            {"environmentId": environment_id, "clientId": client_id},
        )
        out.write(strings.DEVICES_REVOKED.format(client_id=client_id) + "\n")
