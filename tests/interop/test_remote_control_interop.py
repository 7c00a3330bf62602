"""Differential interop: the real codex 0.169.0 host and our gateway (in front of the same
codex) enrolled with the same loopback test relay, driven by the same script
(remote-control-observed.md §1–§2). What a relay can observe must match: the HTTP bodies
and header names, the handshake header names, and the envelope sequence of a scripted
session (initialize, a notification, pings on known and unknown streams, a response over
150 KiB, client_closed, replay after a dropped link)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.support.client import RpcClient
from tests.support.rc_codex import ACCOUNT, unix_host, write_chatgpt_home
from tests.support.rc_relay import RcTestRelay

pytestmark = [pytest.mark.anyio, pytest.mark.interop]

#: Headers that are HTTP or WebSocket mechanics, not the protocol.
MECHANICS = {"host", "accept", "content-length", "accept-encoding", "connection", "upgrade",
             "sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions"}
RC_PATHS = ("wham/remote/control/",)
PHONE = {"clientInfo": {"name": "phone", "title": None, "version": "1.0"}, "capabilities": {"experimentalApi": True}}
TABLET = {"clientInfo": {"name": "tablet", "title": None, "version": "1.0"}, "capabilities": {"experimentalApi": True}}


@dataclass
class Trace:
    http: list[dict[str, Any]] = field(default_factory=list)
    handshake_headers: list[set[str]] = field(default_factory=list)
    streams: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    results: dict[str, Any] = field(default_factory=dict)
    cursor: str | None = None
    duplicates: int = 0


def _shape(env: dict[str, Any]) -> tuple[Any, ...]:
    """What must match per envelope: type, key order, numbering, status, and the message's
    kind (an id or a method), never its text (user agents and paths differ)."""
    message = env.get("message")
    what = None
    if isinstance(message, dict):
        what = message.get("method") or ("id", message.get("id"))
    return (env["type"], tuple(env), env.get("segment_id"), env.get("segment_count"),
            env.get("status"), what)


async def run_script(kind: str, codex_bin: str, home: Path) -> Trace:
    trace = Trace()
    async with RcTestRelay() as relay:
        write_chatgpt_home(home, relay.base_url, None)
        big = home / "big.bin"
        big.write_bytes(b"\0" * (200 * 1024))
        async with unix_host(kind, codex_bin, home, relay.port) as sock, RpcClient.connect_unix(sock) as local:
            await local.initialize("rc-harness")
            first_status = await local.notification("remoteControl/status/changed")
            trace.results["first_status"] = first_status["params"]["status"]
            trace.results["read"] = sorted(await local.call("remoteControl/status/read"))
            enabled = await local.call("remoteControl/enable")
            trace.results["enable"] = (enabled["status"], enabled["environmentId"])
            await relay.wait_link(60)

            s1 = relay.stream("client-1", "stream-1")
            await s1.send_request(1, "initialize", PHONE)
            await s1.answer(1)
            status = await s1.notification("remoteControl/status/changed")
            # Both hosts send codex's configWarning after the initialize answer: ours as the
            # codex behind it emits it, which can be after the next answer unless waited for.
            await s1.notification("configWarning")
            trace.results["stream_status"] = status["params"]["status"] in ("connecting", "connected")
            trace.results["emitted"] = isinstance(status.get("emittedAtMs"), int)
            await s1.ping()
            pong = await _next(s1.pongs)
            unknown = relay.stream("client-x", "stream-unknown")
            await unknown.ping()
            pong_unknown = await _next(unknown.pongs)
            trace.results["pongs"] = (pong["status"], pong_unknown["status"], pong_unknown["seq_id"])

            await s1.send_request(2, "fs/readFile", {"path": str(big)})
            read = await s1.answer(2)
            trace.results["read_ok"] = "result" in read

            pair = await local.call("remoteControl/pairing/start", {"manualCode": True})
            trace.results["pair"] = sorted(pair)
            await local.call("remoteControl/pairing/start", {})
            claimed = await local.call("remoteControl/pairing/status", {"pairingCode": pair["pairingCode"]})
            trace.results["claimed"] = claimed
            missing = await local.request("remoteControl/pairing/status", {"manualPairingCode": "NOPE"})
            trace.results["missing_code"] = (missing["error"]["code"], missing["error"]["message"].split(" at ")[0])
            relay.clients = [{"client_id": "phone-client-1", "display_name": "Phone", "device_type": "phone",
                              "platform": "ios", "os_version": "18.1", "device_model": "iPhone16,1",
                              "app_version": "1.0", "last_seen_at": "2026-11-30T09:00:00Z"}]
            listed = await local.call("remoteControl/client/list",
                                      {"environmentId": enabled["environmentId"], "limit": 10, "order": "desc"})
            trace.results["list"] = listed
            trace.results["revoke"] = await local.call(
                "remoteControl/client/revoke", {"environmentId": enabled["environmentId"], "clientId": "phone-client-1"})

            await s1.close()
            await s1.ping()
            closed_pong = await _next(s1.pongs)
            trace.results["closed_pong"] = closed_pong["status"]

            s2 = relay.stream("client-2", "stream-2")
            await s2.send_request(1, "initialize", TABLET)
            await s2.answer(1)
            await s2.notification("remoteControl/status/changed")
            await s2.notification("configWarning")
            relay.auto_ack = False
            await s2.send_request(2, "remoteControl/status/read")
            await s2.answer(2)
            unacked_before = len(s2.envelopes)
            await relay.drop()
            relay.auto_ack = True
            await relay.wait_link(90)
            await s2.ping()
            await _next(s2.pongs, 90)
            # The first envelope on the new socket is a replay: an unacked one, unchanged.
            before, first = s2.envelopes[:unacked_before], s2.envelopes[unacked_before]
            trace.results["replayed_first"] = first in before
            disabled = await local.call("remoteControl/disable")
            trace.results["disable"] = (disabled["status"], disabled["environmentId"])

        trace.duplicates = relay.duplicates
        trace.cursor = relay.handshakes[-1].header("x-codex-subscribe-cursor")
        for record in relay.http:
            if not any(p in record.path for p in RC_PATHS):
                continue
            trace.http.append({"method": record.method, "path": record.path.replace("env_stub1", "ENV"),
                               "query": record.query, "body": record.body,
                               "headers": sorted(set(record.header_names) - MECHANICS),
                               "account": record.header("chatgpt-account-id")})
        trace.handshake_headers = [set(h.header_names) - MECHANICS for h in relay.handshakes]
        for (client, stream), rs in relay._streams.items():
            trace.streams[f"{client}/{stream}"] = rs.envelopes
    return trace


async def _next(queue: Any, timeout: float = 30) -> dict[str, Any]:
    with anyio.fail_after(timeout):
        return await queue.get()


def _stream_shapes(envelopes: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    # Status notifications are coalesced differently from run to run (observed §3.5), and
    # ours is queued right behind the initialize answer while codex's configWarning comes
    # first in the binary: compare everything else in order, and the numbering separately.
    # Replays are left out too (which envelopes were still unacked when the link dropped
    # depends on that ordering); the replay itself is checked on its own.
    # Pongs are compared apart from the messages: the binary's per-stream writer picks
    # between a queued message and a pending pong at random (tokio::select!), so their
    # relative order differs from run to run even for the real codex.
    shapes, pongs, seen = [], [], (0, -1)
    for e in envelopes:
        where = (e["seq_id"], e.get("segment_id", 0))
        if where <= seen:
            continue
        seen = where
        if e["type"] == "pong":
            pongs.append(_shape(e))
        elif "remoteControl/status/changed" not in json.dumps(e.get("message", "")):
            shapes.append(_shape(e))
    return shapes + pongs


def _numbering_ok(envelopes: list[dict[str, Any]]) -> bool:
    """seq_ids from 1, each envelope the next number, chunks of a message sharing one;
    a replay repeats numbers already seen (in order)."""
    highest = 0
    for env in envelopes:
        seq = env["seq_id"]
        if seq == highest + 1:
            highest = seq
        elif not (seq <= highest):
            return False
    return envelopes[0]["seq_id"] == 1


async def test_our_host_matches_the_real_codex_host(tmp_path: Path, codex_bin: str) -> None:
    codex_home = tmp_path / "codex"
    ours_home = tmp_path / "ours"
    codex_home.mkdir()
    ours_home.mkdir()
    codex = await run_script("codex", codex_bin, codex_home)
    ours = await run_script("ours", codex_bin, ours_home)

    assert ours.results == codex.results
    assert codex.results["enable"] == ("connecting", "env_stub1")
    assert codex.results["closed_pong"] == "unknown" and codex.results["replayed_first"]

    # HTTP: the same calls, bodies (but each host's own installation id) and header names.
    def http(trace: Trace) -> list[dict[str, Any]]:
        out = []
        for r in trace.http:
            body = dict(r["body"]) if isinstance(r["body"], dict) else r["body"]
            if isinstance(body, dict) and "installation_id" in body:
                body["installation_id"] = "<id>"
            out.append({**r, "body": body})
        return out

    assert http(ours) == http(codex)
    assert all(r["account"] in (None, ACCOUNT) for r in ours.http)
    assert ours.handshake_headers == codex.handshake_headers
    assert ours.cursor == codex.cursor

    # Envelopes: same streams, same sequence of shapes, contiguous numbering.
    assert sorted(ours.streams) == sorted(codex.streams)
    for key in codex.streams:
        assert _stream_shapes(ours.streams[key]) == _stream_shapes(codex.streams[key]), key
        assert _numbering_ok(ours.streams[key]) and _numbering_ok(codex.streams[key]), key
    assert ours.duplicates >= 1 and codex.duplicates >= 1
