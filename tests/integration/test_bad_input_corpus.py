"""The bad-input corpus: every case × stdio/unix/ws/wss × builtin/codex.

One gateway process per backend serves all four transports at once, so each case also
shows what it does to the neighbours. For every (case, transport):

* a fresh sender (on stdio: the one stdio client) initializes, sends the case's frames,
  then a probe request; it must get exactly the answers the case expects and then the
  probe's answer, or a close frame with a code (never a dropped socket);
* one neighbour per transport, opened before the first case, answers a probe after every
  case and is never closed;

and at the end the process is alive and its stderr holds no traceback. The expectations
were checked against codex 0.169.0 (``codex app-server`` over stdio, the same frames):
what codex ignores (no answer) is ignored here too.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
from websockets.asyncio.client import ClientConnection, connect, unix_connect
from websockets.exceptions import ConnectionClosed

from appserver.transports.unix_path import UDS_WEBSOCKET_URI
from tests.support.gateway import StdioGateway, stdio_gateway
from tests.support.launcher import appserver_env, short_dir
from tests.support.tls import Pki, pki  # noqa: F401  (fixture)

pytestmark = [pytest.mark.anyio, pytest.mark.interop]

#: A hang guard per step (not a timing assertion): a step that blocks this long failed.
STEP_DEADLINE = 30.0
UNKNOWN_THREAD = "00000000-0000-7000-8000-000000000000"


def req(request_id: Any, method: str, params: Any) -> str:
    return json.dumps({"id": request_id, "method": method, "params": params})


def raw_req(params_json: str, method: str = "thread/list", request_id: str = '"bad"') -> str:
    return '{"id":%s,"method":"%s","params":%s}' % (request_id, method, params_json)


def nested(levels: int) -> str:
    return "[" * levels + "]" * levels


@dataclass(frozen=True)
class Case:
    name: str
    #: Text frames (stdio: lines); ``bytes`` go out as a binary frame (stdio: a raw line).
    frames: tuple[str | bytes, ...]
    #: Error codes (``None`` for a result) of the answers owed before the probe's answer.
    answers: tuple[int | None, ...] = ()
    #: On sockets the server may close instead (with a close frame).
    may_close: bool = False


CASES = [
    # Item 1: lone surrogates, anywhere.
    Case("surrogate in a cursor", (raw_req('{"cursor":"\\ud800"}'),)),
    Case("surrogate in a thread/start cwd", (raw_req('{"cwd":"/tmp/\\udc00"}', "thread/start"),)),
    Case(
        "surrogate in turn text",
        (raw_req('{"threadId":"%s","input":[{"type":"text","text":"a\\ud83d"}]}' % UNKNOWN_THREAD, "turn/start"),),
    ),
    Case("surrogate in hooks/list cwds", (raw_req('{"cwds":["\\udfff"]}', "hooks/list"),)),
    Case("surrogate in a key", ('{"id":"bad","method":"thread/list","params":{"\\ud800":1}}',)),
    Case("surrogate in a method", ('{"id":"bad","method":"thread/\\ud800","params":{}}',)),
    # Item 2: nesting.
    Case("nesting 128 levels", (raw_req('{"x":%s}' % nested(126)),)),
    Case("nesting 5,000 levels", (raw_req('{"x":%s}' % nested(5000)),)),
    Case("bare nesting 100,000", ("[" * 100_000,)),
    # Item 3: values handlers did not foresee.
    Case("cursor ²", (raw_req('{"cursor":"\u00b2"}'),), answers=(-32600,)),
    Case("cursor of 5,000 digits", (raw_req('{"cursor":"%s"}' % ("9" * 5000)),), answers=(-32600,)),
    Case("NaN approvalPolicy", (raw_req('{"approvalPolicy":NaN}', "thread/start"),)),
    Case("Infinity in params", (raw_req('{"x":-Infinity}'),)),
    Case(
        "turn/start on an unknown thread",
        (req("bad", "turn/start", {"threadId": UNKNOWN_THREAD, "input": []}),),
        answers=(-32600,),
    ),
    Case("params of the wrong type", (raw_req("5"),), answers=(-32600,)),
    # Item 6: ids codex cannot read (it takes them for notifications: never answered).
    Case("30-digit ids x 120", tuple(raw_req("{}", request_id="1" * 30) for _ in range(120))),
    Case("float, bool and null ids", tuple(raw_req("{}", request_id=i) for i in ("1.5", "true", "null"))),
    Case("i64 edge ids", (raw_req("{}", request_id=str(2**63 - 1)), raw_req("{}", request_id=str(-(2**63)))), answers=(None, None)),
    # Framing and shape.
    Case("not JSON", ("{not json", "", "   ", "42", '"s"', "null", "[]", "{}")),
    Case("a batch", ("[%s]" % req("bad", "thread/list", {}),)),
    Case("trailing garbage", (req("bad", "thread/list", {}) + " x",)),
    Case("method not a string", ('{"id":"bad","method":5}',)),
    Case("unknown method", (req("bad", "no/such/method", {}),), answers=(-32600,)),
    Case("a 100,000-character method", (req("bad", "m" * 100_000, {}),), answers=(-32600,)),
    Case("a 100,000-character id", (req("x" * 100_000, "thread/list", {}),), answers=(None,)),
    Case("an answer nobody asked for", ('{"id":"nobody","result":{}}', '{"id":7,"error":{"code":1,"message":"x"}}')),
    Case("a malformed error", ('{"id":"bad","error":{"code":"x"}}',)),
    Case("initialize again", (req("bad", "initialize", {"clientInfo": {"name": "x", "version": "1"}}),), answers=(-32600,)),
    Case("NUL and controls in strings", (raw_req('{"cursor":"\\u0000\\u001f"}'),), answers=(-32600,)),
    Case("an out-of-range float", (raw_req('{"x":1e400}'),), answers=(None,)),
    Case("invalid UTF-8", (b"\xff\xfe{\x80}",), may_close=True),
]


class CorpusClient:
    """One client over any transport: text out, parsed messages (or a close) in."""

    def __init__(self, transport: str, ws: ClientConnection | None = None, stdio: StdioGateway | None = None) -> None:
        self.transport = transport
        self.ws = ws
        self.stdio = stdio
        self.ids = 0

    async def send(self, frame: str | bytes) -> None:
        if self.ws is not None:
            await self.ws.send(frame)
        else:
            assert self.stdio is not None and self.stdio.process.stdin is not None
            data = frame if isinstance(frame, bytes) else frame.encode("utf-8", "surrogatepass")
            await self.stdio.process.stdin.send(data + b"\n")

    async def recv(self) -> dict[str, Any]:
        if self.ws is not None:
            return json.loads(await self.ws.recv())
        assert self.stdio is not None
        return json.loads(await self.stdio.channel.recv())

    async def call(
        self, method: str, params: Any, *, owed: int = 0
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Send a request; its answer, and the other answers received until it came and
        ``owed`` others did (codex answers concurrent requests in any order)."""
        self.ids += 1
        probe_id = f"probe-{self.ids}"
        await self.send(req(probe_id, method, params))
        others: list[dict[str, Any]] = []
        answer: dict[str, Any] | None = None
        with anyio.fail_after(STEP_DEADLINE):
            while answer is None or len(others) < owed:
                message = await self.recv()
                if "method" in message:
                    continue  # notifications (and server requests) are not at issue
                if message.get("id") == probe_id:
                    answer = message
                else:
                    others.append(message)
        return others, answer

    async def initialize(self, name: str) -> None:
        _, answer = await self.call("initialize", {"clientInfo": {"name": name, "version": "1"}})
        assert "result" in answer, answer
        await self.send(json.dumps({"method": "initialized"}))


@asynccontextmanager
async def socket_peer(transport: str, target: str, context: ssl.SSLContext | None) -> AsyncIterator[CorpusClient]:
    if transport == "unix":
        opening = unix_connect(target, UDS_WEBSOCKET_URI, max_size=None)
    else:
        opening = connect(target, max_size=None, ssl=context if transport == "wss" else None)
    async with opening as ws:
        yield CorpusClient(transport, ws=ws)


@dataclass
class Gateway:
    stdio: StdioGateway
    targets: dict[str, str]
    context: ssl.SSLContext


@asynccontextmanager
async def gateway(backend_args: list[str], home: Path, pki: Pki, sockets: Path) -> AsyncIterator[Gateway]:
    args = [
        *backend_args,
        "--listen", "stdio://",
        "--listen", f"unix://{sockets / 'gw.sock'}",
        "--listen", "ws://127.0.0.1:0",
        "--listen", "wss://127.0.0.1:0",
        "--tls-cert", str(pki.cert),
        "--tls-key", str(pki.key),
    ]
    env = appserver_env(home)
    async with stdio_gateway(args, env, cwd=home) as gw:
        urls = await gw.server.lines_matching(r"listening on: ((wss?)://\S+)", 2)
        targets = {"unix": str(sockets / "gw.sock"), **{m.group(2): m.group(1) for m in urls}}
        await CorpusClient("stdio", stdio=gw).initialize("stdio-sender")
        yield Gateway(gw, targets, pki.client_context())


def _check(case: Case, before: list[dict[str, Any]], answer: dict[str, Any]) -> str | None:
    codes = sorted((m["error"]["code"] if "error" in m else 0 for m in before))
    if codes != sorted(code or 0 for code in case.answers):
        return f"answers {codes} (expected {case.answers}): {str(before)[:300]}"
    if "result" not in answer:
        return f"probe answered {answer}"
    return None


async def run_corpus(backend_args: list[str], home: Path, pki: Pki) -> None:
    failures: list[str] = []
    with short_dir() as sockets:
        async with gateway(backend_args, home, pki, sockets) as gw, AsyncExitStack() as stack:
            stdio = CorpusClient("stdio", stdio=gw.stdio)
            neighbours = [stdio]
            for transport, target in gw.targets.items():
                neighbour = await stack.enter_async_context(socket_peer(transport, target, gw.context))
                await neighbour.initialize(f"{transport}-neighbour")
                neighbours.append(neighbour)
            for case in CASES:
                for transport in ("stdio", *gw.targets):
                    where = f"{case.name} over {transport}"
                    try:
                        if transport == "stdio":
                            problem = await _run_case(case, stdio)
                        else:
                            async with socket_peer(transport, gw.targets[transport], gw.context) as sender:
                                await sender.initialize("sender")
                                problem = await _run_case(case, sender)
                    except (anyio.EndOfStream, anyio.IncompleteRead, anyio.BrokenResourceError):
                        failures.append(f"{where}: the gateway's stdout closed (it exited?)")
                        raise AssertionError(
                            "\n".join(failures) + "\n" + gw.stdio.stderr[-4000:]
                        ) from None
                    if problem:
                        failures.append(f"{where}: {problem}")
                    for neighbour in neighbours:
                        try:
                            _, answer = await neighbour.call("thread/loaded/list", {})
                        except (ConnectionClosed, TimeoutError) as exc:
                            failures.append(f"{where}: {neighbour.transport} neighbour lost: {exc!r}")
                            raise AssertionError("\n".join(failures)) from None
                        if "result" not in answer:
                            failures.append(f"{where}: {neighbour.transport} neighbour got {answer}")
            assert gw.stdio.process.returncode is None, "the gateway exited"
            stderr = gw.stdio.stderr
    assert "Traceback" not in stderr, stderr[-4000:]
    assert not failures, "\n".join(failures)


async def _run_case(case: Case, sender: CorpusClient) -> str | None:
    try:
        for frame in case.frames:
            await sender.send(frame)
        before, answer = await sender.call("thread/loaded/list", {}, owed=len(case.answers))
    except ConnectionClosed as exc:
        if exc.rcvd is None:
            return f"dropped without a close frame: {exc!r}"
        return None if case.may_close else f"closed: {exc!r}"
    except TimeoutError:
        return "no answer to the probe"
    return _check(case, before, answer)


def test_corpus_covers_every_item() -> None:
    assert len(CASES) == len({case.name for case in CASES})


async def test_corpus_builtin(tmp_path: Path, pki: Pki) -> None:  # noqa: F811
    await run_corpus(["--backend", "builtin"], tmp_path, pki)


async def test_corpus_codex(tmp_path: Path, pki: Pki, codex_bin: str) -> None:  # noqa: F811
    await run_corpus(["--backend", "codex", "--codex-bin", codex_bin], tmp_path, pki)
