"""The connection cap: one connection over it is refused with a clear close, the others
go on (limits.MAX_CONNECTIONS, lowered to fit the open-file limit)."""

from __future__ import annotations

from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed

from appserver import limits
from appserver.backends.builtin import BuiltinBackend
from appserver.transports.websocket import connection_cap
from tests.support.client import RpcClient
from tests.support.gateway import inprocess_unix_gateway
from tests.support.launcher import short_dir

pytestmark = pytest.mark.anyio


def test_the_cap_fits_the_open_file_limit() -> None:
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    cap = connection_cap()
    assert 1 <= cap <= limits.MAX_CONNECTIONS
    if soft != resource.RLIM_INFINITY:
        assert cap * limits.CONNECTION_FDS + limits.FD_RESERVE <= max(soft, limits.FD_RESERVE + limits.CONNECTION_FDS)


async def test_one_over_the_cap_is_told_1013_and_the_others_go_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "MAX_CONNECTIONS", 2)
    with short_dir() as sockets:
        path = sockets / "s.sock"
        async with inprocess_unix_gateway(BuiltinBackend(tmp_path), path):
            async with RpcClient.connect_unix(path) as first, RpcClient.connect_unix(path) as second:
                await first.initialize()
                await second.initialize()
                async with RpcClient.connect_unix(path) as third:
                    with pytest.raises(ConnectionClosed) as info:
                        await third.initialize()
                    assert info.value.rcvd is not None
                    assert (info.value.rcvd.code, info.value.rcvd.reason) == (
                        1013,
                        "too many connections; try again later",
                    )
                assert "result" in await first.request("thread/loaded/list", {})
                assert "result" in await second.request("thread/loaded/list", {})
