"""Controllers' frames in a host's Redis up stream, many to one entry (docs/relay.md "Cluster").

The nodes holding a host's controller streams append their frames (``client_message``,
``ping``, ``client_closed``) as entries of up to ``RELAY_CLUSTER_WRITE_BATCH`` frames each,
not one entry per frame: Redis appends, stores and serves one entry per batch, and the
host's owner, reading the stream behind the direct path (:mod:`appserver.relay.peers`),
skips a whole batch it already wrote without looking at its frames. Fields of a batch entry
(the same ``<length>:<item>`` form as :mod:`appserver.relay.down_batches`):

* ``i``: for every stream with messages in the batch, ``<highest seq_id>:<client_id>:<stream_id>``
  (the relay's ids are base64url: no colon, no tab);
* ``o``: present when a row is a ping or a close (such a batch is always read row by row);
* ``b``: the frames in order, each ``<kind><TAB><client_id><TAB><stream_id><TAB><seq_id><TAB><message>``
  (kind ``m``, ``p`` or ``c``; ``seq_id`` and ``message`` empty for the last two).

A frame's position is its entry and its row: the owner writes it to the host with the
cursor ``x<entry>:<row>``, or ``x<entry>`` for an entry's last row (everything up to and
including that entry), so the next owner goes on right after the host's cursor, inside an
entry if need be. Entries of one frame each (fields ``k``, ``c``, ``s``, ``q``, ``m``: what
a node before batches wrote) are read as before.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from appserver.relay.peers import batch, unbatch

#: ``(kind, client_id, stream_id, seq_id, message)`` as queued by a controller stream's node.
Frame = tuple[str, str, str, "int | None", str]
#: A batch entry's row, read back: the same, ``seq_id`` as text ("" for pings and closes).
Row = tuple[str, str, str, str, str]
#: ``written(client_id, stream_id, seq_id)``: the owner wrote this message to its host already.
Written = Callable[[str, str, int], bool]

CURSOR_PREFIX = "x"
_POSITION = re.compile(r"(\d{1,20})-(\d{1,20})(?::(\d{1,9}))?")
_LAST_SEQ = 2**64 - 1


def pack(frames: list[Frame]) -> dict[str, str]:
    """One batch entry of ``frames``, in order; ``b`` (the one field that may hold tabs) last."""
    rows = []
    highest: dict[tuple[str, str], int] = {}
    other = False
    for kind, client_id, stream_id, seq_id, message in frames:
        if seq_id is None:
            other = True
            rows.append(f"{kind}\t{client_id}\t{stream_id}\t\t")
        else:
            highest[(client_id, stream_id)] = seq_id
            rows.append(f"{kind}\t{client_id}\t{stream_id}\t{seq_id}\t{message}")
    entry = {"i": batch([f"{seq_id}:{client_id}:{stream_id}" for (client_id, stream_id), seq_id in highest.items()])}
    if other:
        entry["o"] = "1"
    entry["b"] = batch(rows)
    return entry


def rows(fields: Mapping[str, str]) -> list[Row]:
    """The frames of one up stream entry (either kind), in order; a malformed row is dropped."""
    if "b" not in fields:  # one frame
        return [(fields.get("k", ""), fields.get("c", ""), fields.get("s", ""), fields.get("q", ""), fields.get("m", ""))]
    out: list[Row] = []
    for row in unbatch(fields["b"]):
        parts = row.split("\t", 4)
        if len(parts) == 5:
            out.append((parts[0], parts[1], parts[2], parts[3], parts[4]))
    return out


def all_written(fields: Mapping[str, str], written: Written) -> bool:
    """Every frame of a batch entry is a message the owner wrote already (from its index
    alone, one question per stream); False for a single-frame entry, or one to read row by row."""
    if "b" not in fields or "o" in fields:
        return False
    index = unbatch(fields.get("i", ""))
    for item in index:
        seq_id, _, ids = item.partition(":")
        client_id, _, stream_id = ids.partition(":")
        if not (seq_id.isascii() and seq_id.isdigit()) or not written(client_id, stream_id, int(seq_id)):
            return False
    return bool(index)


def cursor_of(entry_id: str, row: int | None = None) -> str:
    """The cursor of an entry's row; of the whole entry when ``row`` is None."""
    return f"{CURSOR_PREFIX}{entry_id}" if row is None else f"{CURSOR_PREFIX}{entry_id}:{row}"


def position_of(cursor: str | None) -> tuple[str, int | None] | None:
    """``(entry_id, row)`` of a cursor this cluster issued (``row`` None: the whole entry);
    ``None`` for any other."""
    if not cursor or not cursor.startswith(CURSOR_PREFIX):
        return None
    found = _POSITION.fullmatch(cursor, 1)
    if found is None:
        return None
    entry_id = f"{found[1]}-{found[2]}"
    return entry_id, None if found[3] is None else int(found[3])


def before(entry_id: str) -> str:
    """The largest stream id below ``entry_id`` (an ``XREAD`` from it starts at ``entry_id``)."""
    ms, _, seq = entry_id.partition("-")
    if int(seq) > 0:
        return f"{ms}-{int(seq) - 1}"
    if int(ms) > 0:
        return f"{int(ms) - 1}-{_LAST_SEQ}"
    return "0-0"
