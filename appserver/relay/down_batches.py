"""A host's envelopes in its Redis down stream, many to one entry (docs/relay.md "Cluster").

The owner of a host appends what its host sent in one Redis write as entries of up to
``RELAY_CLUSTER_WRITE_BATCH`` envelopes each, not one entry per envelope: Redis appends,
stores and serves one entry per batch, and a node reading the stream behind the direct
path (:mod:`appserver.relay.peers`) skips a whole batch it already had without looking at
its envelopes. Fields of a batch entry:

* ``b``: the envelopes in the order the host sent them, each ``<length>:<row>`` (lengths in
  characters: :func:`appserver.relay.peers.batch`); a row is
  ``<stream_id><TAB><seq_id><TAB><envelope>`` for a whole host message and
  ``<TAB><TAB><envelope>`` for any other envelope (a chunk, a pong, a message whose stream
  id holds a tab);
* ``i``: for every stream with whole messages in the batch, ``<highest seq_id>:<stream_id>``,
  in the same ``<length>:<item>`` form (no tabs: only ``b``, the last field, holds any);
* ``o``: present when a row is another envelope (such a batch is always read row by row).

Entries of one envelope each (``s``, ``q``, ``e``, or ``e`` alone: what a node before
batches wrote) are read as before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from appserver.relay.peers import batch, unbatch

#: ``had(stream_id, seq_id)``: the node has this stream's message ``seq_id`` already, or
#: the stream is not one of its own (the message is then skipped without being parsed).
Had = Callable[[str, str], bool]
#: What the owner queues per host envelope: ``(client_id, stream_id, seq_id, text)`` for a
#: whole message whose stream id holds no tab, ``(envelope, text)`` for any other.
Item = tuple[str, str, int, str] | tuple[Any, str]


def pack(items: list[Item]) -> dict[str, str]:
    """One batch entry of ``items`` (:data:`Item`), in order; ``b`` last."""
    rows = []
    highest: dict[str, int] = {}
    other = False
    for item in items:
        if len(item) == 4:
            _, stream_id, seq_id, text = item  # type: ignore[misc]
            highest[stream_id] = seq_id
            rows.append(f"{stream_id}\t{seq_id}\t{text}")
        else:
            other = True
            rows.append(f"\t\t{item[1]}")
    entry = {"i": batch([f"{seq_id}:{stream_id}" for stream_id, seq_id in highest.items()])}
    if other:
        entry["o"] = "1"
    entry["b"] = batch(rows)
    return entry


def unseen(fields: Mapping[str, str], had: Had) -> Iterator[str]:
    """The envelopes of one down stream entry (either kind) that the node still has to
    handle, in order; ``had`` is asked as each one is reached."""
    rows = fields.get("b")
    if rows is None:  # one envelope
        stream_id, seq_id = fields.get("s"), fields.get("q", "")
        if stream_id is None or not seq_id.isdigit() or not had(stream_id, seq_id):
            yield fields.get("e", "")
        return
    if "o" not in fields and _all_had(unbatch(fields.get("i", "")), had):
        return
    for row in unbatch(rows):
        stream_id, _, rest = row.partition("\t")
        seq_id, _, envelope = rest.partition("\t")
        if not stream_id or not seq_id.isdigit() or not had(stream_id, seq_id):
            yield envelope


def _all_had(index: list[str], had: Had) -> bool:
    for item in index:
        seq_id, _, stream_id = item.partition(":")
        if not seq_id.isdigit() or not had(stream_id, seq_id):
            return False  # (or malformed: read row by row)
    return True
