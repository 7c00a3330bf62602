"""``appserver pair``'s logic against a scripted gateway on a Unix socket: the outputs for
a relay with and without a pairing link, the claimed device's name, expiry, and the
errors for a gateway that cannot do remote control. (The real gateway + relay path is in
test_controllers_e2e.py.)"""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, unix_serve

from appserver.connect import Target
from appserver.controller.pairing import run_pair
from appserver.errors import RuntimeFailure
from tests.support.qr import decode_terminal_qr

pytestmark = pytest.mark.anyio

Handler = Callable[[str, Any], Any]


class ScriptedGateway:
    """Answers initialize and the remoteControl/* methods from a table of callables."""

    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, Any]] = []

    async def handle(self, ws: ServerConnection) -> None:
        async for text in ws:
            message = json.loads(text)
            if "id" not in message:
                continue
            method, params = message["method"], message.get("params")
            self.calls.append((method, params))
            if method == "initialize":
                answer: Any = {"result": {"userAgent": "scripted"}}
            else:
                found = self.answers[method]
                answer = found(params) if callable(found) else found
            await ws.send(json.dumps({"id": message["id"], **answer}))


@pytest.fixture
async def socket_path(short_tmp: Path) -> AsyncIterator[Path]:
    yield short_tmp / "gw.sock"


async def _pair(path: Path, gateway: ScriptedGateway, **kw: Any) -> tuple[str, str | Exception]:
    out = io.StringIO()
    async with unix_serve(gateway.handle, str(path)):
        try:
            name: str | Exception = await run_pair(Target(path=path), manual=True, out=out, poll_interval=0, **kw)
        except RuntimeFailure as exc:
            name = exc
    return out.getvalue(), name


ENABLED = {"result": {"status": "connected", "serverName": "box", "installationId": "i", "environmentId": "env"}}


def _started(url: bool) -> dict[str, Any]:
    result = {"pairingCode": "code-123", "manualPairingCode": "AB12-CD34", "environmentId": "env", "expiresAt": 2000}
    if url:
        result["pairingUrl"] = "https://relay.example/#pair=code-123"
    return {"result": result}


async def test_claimed_prints_qr_link_code_and_the_new_devices_name(socket_path: Path) -> None:
    polls = iter([False, False, True])
    lists = iter([[{"clientId": "old", "displayName": "tablet"}], [{"clientId": "old", "displayName": "tablet"}, {"clientId": "new", "displayName": "Jane's phone"}]])
    gateway = ScriptedGateway({
        "remoteControl/status/read": ENABLED,
        "remoteControl/pairing/start": _started(url=True),
        "remoteControl/pairing/status": lambda p: {"result": {"claimed": next(polls)}},
        "remoteControl/client/list": lambda p: {"result": {"data": next(lists), "nextCursor": None}},
    })  # fmt: skip
    out, name = await _pair(socket_path, gateway, clock=lambda: 1000.0)
    assert name == "Jane's phone"
    assert decode_terminal_qr(out) == ["https://relay.example/#pair=code-123"]
    assert "\n  https://relay.example/#pair=code-123\n" in out
    assert "Or type this code: AB12-CD34\n" in out
    assert "Waiting for a device; the code expires in 16:40\n" in out
    assert out.endswith("paired: Jane's phone\n")
    assert ("remoteControl/pairing/start", {"manualCode": True}) in gateway.calls
    assert gateway.calls.count(("remoteControl/pairing/status", {"pairingCode": "code-123"})) == 3


async def test_without_a_link_the_codes_are_printed(socket_path: Path) -> None:
    gateway = ScriptedGateway({
        "remoteControl/status/read": ENABLED,
        "remoteControl/pairing/start": _started(url=False),
        "remoteControl/pairing/status": {"result": {"claimed": True}},
        "remoteControl/client/list": {"error": {"code": -32603, "message": "relay down"}},
    })  # fmt: skip
    out, name = await _pair(socket_path, gateway, clock=lambda: 1000.0)
    assert decode_terminal_qr(out) == []
    assert "claim this pairing code from the controller:\n  code-123\n" in out
    assert name == "a new device"


async def test_expiry_is_a_clear_failure(socket_path: Path) -> None:
    times = iter([1990.0, 1995.0, 2001.0])
    gateway = ScriptedGateway({
        "remoteControl/status/read": ENABLED,
        "remoteControl/pairing/start": _started(url=True),
        "remoteControl/pairing/status": {"result": {"claimed": False}},
        "remoteControl/client/list": {"result": {"data": [], "nextCursor": None}},
    })  # fmt: skip
    out, failure = await _pair(socket_path, gateway, clock=lambda: next(times))
    assert isinstance(failure, RuntimeFailure)
    assert str(failure) == "the pairing code expired before a device claimed it; run `appserver pair` again"
    assert "the code expires in 0:10" in out


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            {"result": {"status": "disabled", "serverName": "b", "installationId": "i", "environmentId": None}},
            "remote control is off on this gateway",
        ),
        (
            {"error": {"code": -32601, "message": "`remoteControl/status/read` is not supported by the built-in offline backend"}},
            "this gateway cannot do remote control: `remoteControl/status/read` is not supported",
        ),
        (
            {"error": {"code": -32600, "message": "remoteControl/status/read requires experimentalApi capability"}},
            "remoteControl/status/read failed: remoteControl/status/read requires experimentalApi capability",
        ),
    ],
)
async def test_gateways_that_cannot_pair(socket_path: Path, answer: dict[str, Any], message: str) -> None:
    out, failure = await _pair(socket_path, ScriptedGateway({"remoteControl/status/read": answer}))
    assert isinstance(failure, RuntimeFailure) and str(failure).startswith(message)
    assert out == ""
