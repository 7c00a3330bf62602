"""The relay in tests: in-process (:func:`running_relay`) or as ``appserver relay serve``.

:func:`running_relay` serves the real aiohttp application on an ephemeral loopback port in
the test's own event loop and yields a :class:`RelayHandle` with the base URL, the
:class:`~appserver.relay.hub.Relay` and helpers that create accounts and enroll hosts over
the real HTTP API.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
from aiohttp import web

from appserver.relay import accounts
from appserver.relay.app import create_app
from appserver.relay.hub import Relay, RelayConfig
from appserver.relay.sqlite_store import SqliteStore
from appserver.relay.store import RelayStore
from tests.support.client import answer_to, initialize_params
from tests.support import deadlines

SHUTDOWN = 1.0
#: When set (the ``relay_engine`` fixture of a module whose tests run on both stores),
#: :func:`running_relay` keeps its state in this Redis instead of the SQLite file.
REDIS_URL: str | None = None
BANNER = re.compile(r"listening on (http\S+/) ")


def account_id_of(credential: str) -> str:
    payload = credential.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return claims["https://api.openai.com/auth"]["chatgpt_account_id"]


def account_headers(credential: str) -> dict[str, str]:
    """What codex sends on enroll/refresh/list/revoke."""
    return {"Authorization": f"Bearer {credential}", "chatgpt-account-id": account_id_of(credential)}


ENROLL_BODY = {
    "name": "vm", "os": "linux", "arch": "x86_64", "app_server_version": "0.169.0",
    "installation_id": "5efbd8d1-a5f5-43e4-a007-82b01f2428a1",
}


@dataclass
class RelayHandle:
    url: str
    relay: Relay
    http: httpx.AsyncClient

    async def account(self, name: str = "alice") -> str:
        """A new account; its credential."""
        return (await accounts.add_account(self.relay.store, name)).token

    async def enroll(self, credential: str, **body: Any) -> dict[str, Any]:
        answer = await self.http.post(
            "wham/remote/control/server/enroll", json={**ENROLL_BODY, **body},
            headers=account_headers(credential),
        )
        assert answer.status_code == 200, answer.text
        return answer.json()

    async def pair(self, host_token: str, manual: bool = False) -> dict[str, Any]:
        answer = await self.http.post(
            "wham/remote/control/server/pair", json={"manual_code": manual},
            headers={"Authorization": f"Bearer {host_token}"},
        )
        assert answer.status_code == 200, answer.text
        return answer.json()

    async def claim(self, code: str, **fields: Any) -> dict[str, Any]:
        answer = await self.http.post("api/v1/pair/claim", json={"code": code, **fields})
        assert answer.status_code == 200, answer.text
        return answer.json()


async def open_test_store(state: Path) -> RelayStore:
    if REDIS_URL is not None:
        from appserver.relay.redis_store import RedisStore

        return await RedisStore.open(REDIS_URL)
    return await SqliteStore.open(state)


@asynccontextmanager
async def running_relay(state: Path, *, web_root: Path | None = None, **config: Any) -> AsyncIterator[RelayHandle]:
    store = await open_test_store(state)
    relay = Relay(store, RelayConfig(listen_url="", public_url=""))
    app = create_app(relay, web_root=web_root) if web_root else create_app(relay)
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=SHUTDOWN)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    url = f"http://127.0.0.1:{port}/"
    relay.config = replace(RelayConfig(listen_url=url, public_url=url, state_path=state), **config)
    try:
        async with httpx.AsyncClient(base_url=url, timeout=deadlines.STEP) as http:
            yield RelayHandle(url, relay, http)
    finally:
        relay.closing = True
        await relay.shutdown()
        await runner.cleanup()
        await store.close()


class RelayController:
    """A controller over the relay's controller API, with resume (docs/relay.md).

    Counts the JSON-RPC frames it received (``relay/*`` frames are kept in ``control``) and
    keeps every frame it sent, so :meth:`resume` can resend the ones the relay did not get.
    """

    def __init__(self, relay_url: str, device_token: str) -> None:
        self.base = relay_url.replace("http://", "ws://") + "api/v1/controller/ws"
        self.token = device_token
        self.ws: Any = None
        self.stream_id: str | None = None
        self.received = 0
        self.sent: list[str] = []
        self.control: list[dict[str, Any]] = []
        self.ids = 0

    async def connect(self, *, subprotocol: bool = False) -> dict[str, Any]:
        from websockets.asyncio.client import connect

        url = self.base
        if self.stream_id is not None:
            url += f"?stream={self.stream_id}&received={self.received}"
        if subprotocol:
            self.ws = await connect(url, subprotocols=["appserver.controller.v1", f"bearer.{self.token}"], max_size=None)  # type: ignore[list-item]
        else:
            self.ws = await connect(url, additional_headers={"Authorization": f"Bearer {self.token}"}, max_size=None)
        first = json.loads(await self.ws.recv())
        assert first["method"] == "relay/stream", first
        params = first["params"]
        self.stream_id = params["streamId"]
        self.control.append(first)
        for text in self.sent[params["received"]:]:
            await self.ws.send(text)
        return params

    async def send(self, payload: dict[str, Any]) -> None:
        """Send one frame. It is recorded first: when the write fails because the socket
        just dropped, the next :meth:`connect` resends it (the caller must not send it again)."""
        text = json.dumps(payload)
        self.sent.append(text)
        await self.ws.send(text)

    async def recv(self) -> dict[str, Any]:
        while True:
            message = json.loads(await self.ws.recv())
            if str(message.get("method", "")).startswith("relay/"):
                self.control.append(message)
                continue
            self.received += 1
            return message

    async def request(self, method: str, params: Any = None) -> dict[str, Any]:
        self.ids += 1
        request_id = self.ids
        await self.send({"id": request_id, "method": method, **({"params": params} if params is not None else {})})
        while True:
            message = await self.recv()
            if answer_to(request_id)(message):
                return message

    async def initialize(self, name: str = "phone") -> dict[str, Any]:
        answer = await self.request("initialize", initialize_params(name))
        await self.send({"method": "initialized"})
        return answer

    async def close(self, code: int = 1000) -> None:
        if self.ws is not None:
            await self.ws.close(code)
