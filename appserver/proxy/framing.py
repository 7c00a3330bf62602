"""Sans-I/O pieces of the proxy: sniffing, line splitting, owed answers, header injection.

Everything here takes and returns plain bytes/str and is unit-tested without an event
loop.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterator

from appserver import jsonrpc

#: A raw client starts with an HTTP request line (upstream proxy clients always send a
#: WebSocket upgrade, which is a GET).
RAW_PREFIX = b"GET "


class Mode(enum.Enum):
    AUTO = "auto"
    JSONL = "jsonl"
    RAW = "raw"


def sniff(head: bytes, *, eof: bool) -> Mode | None:
    """Decide ``auto`` mode from the first bytes of stdin; ``None``: need more bytes.

    ``GET `` → raw byte relay; anything else (``{``, whitespace, ...) → JSONL. Fewer than
    four bytes that are still a prefix of ``GET `` are undecided until more arrive or EOF.
    """
    if head.startswith(RAW_PREFIX):
        return Mode.RAW
    if RAW_PREFIX.startswith(head) and not eof:
        return None
    return Mode.JSONL


class LineSplitter:
    """Splits a byte stream into lines (``\\n``, optional ``\\r`` stripped).

    A line longer than ``max_line`` bytes (its terminator not counted) is discarded instead
    of being buffered without bound; its length is appended to :attr:`dropped` so the
    caller can log it.
    """

    def __init__(self, max_line: int) -> None:
        self.max_line = max_line
        self._buffer = bytearray()
        self._skipped = 0  # bytes of an over-long line seen so far (0: not skipping)
        self.dropped: list[int] = []

    def feed(self, chunk: bytes) -> Iterator[bytes]:
        start = 0
        while (end := chunk.find(b"\n", start)) >= 0:
            piece = chunk[start:end]
            start = end + 1
            if self._skipped:
                self.dropped.append(self._skipped + len(piece))
                self._skipped = 0
                continue
            if self._buffer:
                self._buffer += piece
                line = bytes(self._buffer)
                self._buffer.clear()
            else:
                line = piece
            line = _strip_cr(line)
            if len(line) > self.max_line:
                self.dropped.append(len(line))
                continue
            yield line
        rest = chunk[start:]
        if self._skipped:
            self._skipped += len(rest)
            return
        self._buffer += rest
        if len(self._buffer) > self.max_line + 1:  # + 1: room for a "\r" before the "\n"
            self._skipped = len(self._buffer)
            self._buffer.clear()

    def finish(self) -> Iterator[bytes]:
        """The last line when the stream ended without a newline."""
        if self._skipped:
            self.dropped.append(self._skipped)
            self._skipped = 0
        elif self._buffer:
            line = _strip_cr(bytes(self._buffer))
            self._buffer.clear()
            if len(line) > self.max_line:
                self.dropped.append(len(line))
            else:
                yield line

    def __repr__(self) -> str:
        return f"<LineSplitter buffered={len(self._buffer)} skipping={self._skipped}>"


def _strip_cr(line: bytes) -> bytes:
    return line[:-1] if line.endswith(b"\r") else line


class PendingRequests:
    """Ids of requests sent to the server that have not been answered yet.

    Used to drain at stdin EOF: the proxy closes only when every request it forwarded has
    its response or error (or the drain timeout passes). Ids keep their JSON type, so
    ``1`` and ``"1"`` are different requests, as on the wire.
    """

    def __init__(self) -> None:
        # Keyed with the id's type: 1 == 1.0 and True == 1 in Python, but not on the wire.
        self._ids: set[tuple[type, int | str]] = set()

    def sent(self, text: str) -> None:
        message = _parse(text)
        if message is not None and message.kind is jsonrpc.MessageKind.REQUEST:
            self._ids.add((type(message.id), message.id))  # type: ignore[arg-type]

    def received(self, text: str) -> None:
        if not self._ids:
            return
        message = _parse(text)
        if message is not None and message.is_answer:
            self._ids.discard((type(message.id), message.id))  # type: ignore[arg-type]

    def __len__(self) -> int:
        return len(self._ids)

    def __repr__(self) -> str:
        return f"<PendingRequests {len(self._ids)}>"


def _parse(text: str) -> jsonrpc.Message | None:
    try:
        return jsonrpc.parse(text)
    except jsonrpc.ParseError:
        return None


def one_line(text: str) -> str:
    """``text`` as a single JSONL line: re-serialized compactly if it spans lines."""
    if "\n" not in text and "\r" not in text:
        return text
    try:
        return json.dumps(json.loads(text), ensure_ascii=False, separators=(",", ":"))
    except ValueError:
        return text.replace("\r", "\\r").replace("\n", "\\n")


#: Largest HTTP request head the raw relay inspects for header injection.
MAX_HEAD_BYTES = 64 * 1024


def inject_authorization(head: bytes, token: str) -> bytes:
    """Put ``Authorization: Bearer <token>`` into a complete HTTP request head.

    ``head`` ends with ``\\r\\n\\r\\n``. Any Authorization header the client sent is
    replaced, so the token from ``--auth-token-env`` is the one the gateway sees.
    """
    lines = head[:-4].split(b"\r\n")
    kept = [lines[0]] + [
        line for line in lines[1:] if not line.lower().startswith(b"authorization:")
    ]
    kept.append(b"Authorization: Bearer " + token.encode("latin-1"))
    return b"\r\n".join(kept) + b"\r\n\r\n"
