"""A tiny TCP WebSocket JSON-RPC server for client-side tests (proxy --connect, call).

``python -m tests.support.ws_stub [--token T] [--tls-cert C --tls-key K]`` listens on
127.0.0.1 (an ephemeral port; prints ``listening on: PORT`` to stderr), answers 401 unless the
upgrade carries ``Authorization: Bearer T`` (when ``--token`` is given), and answers
every request with ``{"echo": method, "params": params, "authorized": bool}``. Method
``stub/notify`` sends a notification first; ``stub/fail`` closes with 1011 ``boom``;
``stub/error`` answers with an error.
"""

from __future__ import annotations

import argparse
import asyncio
import http
import json
import ssl
import sys

from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--token")
    parser.add_argument("--tls-cert")
    parser.add_argument("--tls-key")
    args = parser.parse_args()
    expected = f"Bearer {args.token}" if args.token else None

    def check(conn: ServerConnection, request: Request) -> Response | None:
        if expected is not None and request.headers.get("Authorization") != expected:
            return conn.respond(http.HTTPStatus.UNAUTHORIZED, "invalid bearer token\n")
        return None

    async def handler(ws: ServerConnection) -> None:
        authorized = "Authorization" in ws.request.headers  # type: ignore[union-attr]
        async for frame in ws:
            message = json.loads(frame)
            if "method" not in message or "id" not in message:
                continue
            method = message["method"]
            if method == "stub/fail":
                await ws.close(1011, "boom")
                return
            if method == "stub/notify":
                await ws.send(json.dumps({"method": "stub/note", "params": {"n": 1}}))
            if method == "stub/error":
                await ws.send(json.dumps({"id": message["id"], "error": {"code": -32602, "message": "bad"}}))
                continue
            result = {"echo": method, "params": message.get("params"), "authorized": authorized}
            await ws.send(json.dumps({"id": message["id"], "result": result}))

    context = None
    if args.tls_cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.tls_cert, args.tls_key)
    async with serve(handler, "127.0.0.1", 0, process_request=check, ssl=context) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"listening on: {port}", file=sys.stderr, flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main())
