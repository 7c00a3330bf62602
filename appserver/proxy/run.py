"""``appserver proxy``: choose the mode, connect, bridge, and map the end to an exit status.

Exit status: 0 when the client finished (stdin EOF, answers drained) or the server
closed normally; 1 with one stderr line when the target cannot be reached (missing
socket, refused, HTTP 401, TLS failure) or the server closed abnormally.
"""

from __future__ import annotations

import logging

from appserver.connect import Target, open_stream, open_websocket
from appserver.proxy.framing import Mode, sniff
from appserver.proxy.jsonl import JsonlBridge, Outcome
from appserver.proxy.raw import relay_raw
from appserver.stdio_streams import StdinStream, StdoutStream

log = logging.getLogger("appserver.proxy")


async def detect_mode(stdin: StdinStream) -> Mode:
    """``auto``: read until the first bytes decide, then push them back."""
    head = b""
    while True:
        chunk = await stdin.read()
        head += chunk
        mode = sniff(head, eof=not chunk)
        if mode is not None:
            stdin.unread(head)
            return mode


async def run_proxy(target: Target, mode: Mode) -> Outcome:
    """Bridge this process's stdio onto ``target``. Raises ``ConnectFailed``."""
    stdin = await StdinStream.open()
    stdout: StdoutStream | None = None
    try:
        if mode is Mode.AUTO:
            mode = await detect_mode(stdin)
            log.debug("auto mode chose %s", mode.value)
        if mode is Mode.RAW:
            stream = await open_stream(target)
            stdout = await StdoutStream.open()
            return await relay_raw(stream, stdin, stdout, str(target), target.token)
        ws = await open_websocket(target)
        stdout = await StdoutStream.open()
        return await JsonlBridge(ws, stdin, stdout, str(target)).run()
    finally:
        # Flush stdout before the event loop ends.
        stdin.close()
        if stdout is not None:
            await stdout.aclose()
