"""The relay's acks to a host (appserver.relay.host_link): coalesced per stream, riding
with the next envelope written to the host once RELAY_ACK_RIDE are due, on their own after
RELAY_ACK_EVERY envelopes or RELAY_ACK_DELAY. A fake frame writer records each socket write."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import anyio
import pytest

from appserver import limits
from appserver.relay.host_link import HostLink, HostState
from appserver.relay.metrics import RelayMetrics
from appserver.remote_control.envelopes import Pong, PongStatus, ServerMessage, ServerMessageChunk


class Frames:
    def __init__(self) -> None:
        self.writes: list[list[str]] = []
        self.wrote = anyio.Event()

    def write(self, texts: list[str]) -> None:
        self.writes.append(list(texts))
        self.wrote.set()

    async def drain(self) -> None:
        pass


def make_link() -> tuple[HostLink, Frames]:
    relay: Any = SimpleNamespace(metrics=RelayMetrics())
    link = HostLink(relay, HostState("srv"), ws=None, peer="test")  # type: ignore[arg-type]
    frames = Frames()
    link.frames = frames  # type: ignore[assignment]
    return link, frames


def ack(stream: str, seq_id: int, segment: int | None = None) -> str:
    tail = "" if segment is None else f'"segment_id":{segment},'
    return f'{{"type":"ack",{tail}"client_id":"c","stream_id":"{stream}","seq_id":{seq_id}}}'


@pytest.mark.anyio
async def test_acks_ride_with_the_next_envelope_written_to_the_host_once_enough_are_due() -> None:
    link, frames = make_link()
    for seq_id in (1, 2, 3):
        link._ack(ServerMessage("c", "s", seq_id, "{}"))
    link._ack(Pong("c", "t", 1, PongStatus.ACTIVE))
    assert await link._send('{"type":"ping"}', "ping")  # a round trip's request: no ack frame yet
    assert frames.writes == [['{"type":"ping"}']]
    for seq_id in range(4, limits.RELAY_ACK_RIDE - 1):  # (4 due already; the chunk below)
        link._ack(ServerMessage("c", "s", seq_id, "{}"))
    link._ack(ServerMessageChunk("c", "u", 4, 1, 3, 10, "e30="))
    assert link._acks_due == limits.RELAY_ACK_RIDE
    assert await link._send('{"type":"ping"}', "ping")
    rode = [ack("s", limits.RELAY_ACK_RIDE - 2), ack("t", 1), ack("u", 4, 1), '{"type":"ping"}']
    assert frames.writes == [['{"type":"ping"}'], rode]
    assert not link._acks  # nothing left due (the timer then finds nothing to write)
    assert await link._send('{"type":"ping"}', "ping")
    assert frames.writes[2] == ['{"type":"ping"}']


@pytest.mark.anyio
async def test_acks_go_out_on_their_own_in_one_write_once_enough_are_due() -> None:
    link, frames = make_link()
    for seq_id in range(1, limits.RELAY_ACK_EVERY):
        link._ack(ServerMessage("c", "s", seq_id, "{}"))
    link._ack(ServerMessage("c", "t", 1, "{}"))
    assert frames.writes == []  # after the frames already read: the next loop iteration
    await frames.wrote.wait()
    assert frames.writes == [[ack("s", limits.RELAY_ACK_EVERY - 1), ack("t", 1)]]


@pytest.mark.anyio
async def test_a_quiet_link_gets_its_acks_after_the_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "RELAY_ACK_DELAY", 0.0)
    link, frames = make_link()
    link._ack(ServerMessage("c", "s", 7, "{}"))
    assert link._ack_timer is not None and frames.writes == []
    await frames.wrote.wait()
    assert frames.writes == [[ack("s", 7)]]


@pytest.mark.anyio
async def test_a_closed_link_writes_nothing_and_forgets_its_timer() -> None:
    link, frames = make_link()
    link._ack(ServerMessage("c", "s", 1, "{}"))
    link._stop()
    assert link._ack_timer is None
    assert not await link._send('{"type":"ping"}', "ping")
    assert frames.writes == []
