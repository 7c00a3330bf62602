"""A blocking WebSocket client built on websockets' sans-I/O ``ClientProtocol``.

It speaks over any byte pipe: a raw Unix socket (to look at the exact bytes, pings and
pongs) or the stdin/stdout of a proxy process (which relays bytes, so the client does the
HTTP upgrade and the masked framing itself).
"""

from __future__ import annotations

import json
import os
import select
import socket
import time
from collections.abc import Callable
from typing import Any

from websockets.client import ClientProtocol
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.uri import parse_uri

from appserver.transports.unix_path import UDS_WEBSOCKET_URI
from tests.support import deadlines

TIMEOUT = deadlines.STEP


class RawWs:
    def __init__(
        self,
        write: Callable[[bytes], None],
        read: Callable[[float], bytes],
        uri: str = UDS_WEBSOCKET_URI,
        *,
        deflate: bool = False,
    ) -> None:
        self._write = write
        self._read = read
        extensions = [ClientPerMessageDeflateFactory()] if deflate else None
        self.protocol = ClientProtocol(parse_uri(uri), extensions=extensions, max_size=None)
        self.frames: list[Frame] = []
        self.response: Response | None = None

    # --- pipes -------------------------------------------------------------------------

    @classmethod
    def over_socket(cls, sock: socket.socket, **kwargs: Any) -> RawWs:
        def read(timeout: float) -> bytes:
            sock.settimeout(timeout)
            return sock.recv(65536)

        return cls(sock.sendall, read, **kwargs)

    @classmethod
    def over_pipes(cls, write_fd: int, read_fd: int, **kwargs: Any) -> RawWs:
        def write(data: bytes) -> None:
            view = memoryview(data)
            while view:
                view = view[os.write(write_fd, view) :]

        def read(timeout: float) -> bytes:
            ready, _, _ = select.select([read_fd], [], [], timeout)
            if not ready:
                raise TimeoutError("no data from the pipe")
            return os.read(read_fd, 65536)

        return cls(write, read, **kwargs)

    # --- protocol ----------------------------------------------------------------------

    def _flush(self) -> None:
        for data in self.protocol.data_to_send():
            if data:
                self._write(data)

    def _pump(self, deadline: float) -> None:
        data = self._read(max(0.01, deadline - time.monotonic()))
        if data:
            self.protocol.receive_data(data)
        else:
            self.protocol.receive_eof()
        for event in self.protocol.events_received():
            if isinstance(event, Response):
                self.response = event
            else:
                self.frames.append(event)
        self._flush()  # pongs and close replies the protocol queued

    def handshake(self, timeout: float = TIMEOUT) -> Response:
        request = self.protocol.connect()
        self.protocol.send_request(request)
        self._flush()
        deadline = time.monotonic() + timeout
        while self.response is None:
            if time.monotonic() > deadline:
                raise TimeoutError("no handshake response")
            self._pump(deadline)
        if self.protocol.handshake_exc is not None:
            raise self.protocol.handshake_exc
        return self.response

    def send_text(self, text: str) -> None:
        self.protocol.send_text(text.encode())
        self._flush()

    def send_json(self, payload: Any) -> None:
        self.send_text(json.dumps(payload))

    def send_binary(self, data: bytes) -> None:
        self.protocol.send_binary(data)
        self._flush()

    def send_ping(self, data: bytes) -> None:
        self.protocol.send_ping(data)
        self._flush()

    def close(self) -> None:
        self.protocol.send_close(1000)
        self._flush()

    def next_frame(self, timeout: float = TIMEOUT) -> Frame:
        deadline = time.monotonic() + timeout
        while not self.frames:
            if time.monotonic() > deadline:
                raise TimeoutError("no frame")
            self._pump(deadline)
        return self.frames.pop(0)

    def recv_json(self, timeout: float = TIMEOUT) -> tuple[dict[str, Any], list[Frame]]:
        """The next text message, and the control frames that came before it."""
        control: list[Frame] = []
        while True:
            frame = self.next_frame(timeout)
            if frame.opcode is Opcode.TEXT:
                return json.loads(frame.data), control
            control.append(frame)

    def wait_answer(self, request_id: Any, timeout: float = TIMEOUT) -> tuple[dict[str, Any], list[Frame]]:
        """The answer to ``request_id``, and every other frame that came before it."""
        before: list[Frame] = []
        while True:
            frame = self.next_frame(timeout)
            if frame.opcode is Opcode.TEXT:
                message = json.loads(frame.data)
                if message.get("id") == request_id and "method" not in message:
                    return message, before
            before.append(frame)
