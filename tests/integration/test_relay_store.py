"""The RelayStore contract, run against both stores: the SQLite file and a real redis-server.

Two store objects on the same state stand for two relay nodes (or a node and the tooling):
what one writes the other sees, and single-use codes stay single use between them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Awaitable
from pathlib import Path

import anyio
import pytest

from appserver import limits
from appserver.relay import credentials
from appserver.relay.redis_store import RedisStore, redacted
from appserver.relay.sqlite_store import SqliteStore
from appserver.relay.store import Device, Pairing, RelayStore, Server, StoreError, StoreUnavailable

pytestmark = pytest.mark.anyio

Opener = Callable[[], Awaitable[RelayStore]]


@pytest.fixture(params=["sqlite", "redis"])
async def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Opener]:
    opened: list[RelayStore] = []

    async def opener() -> RelayStore:
        if request.param == "redis":
            store: RelayStore = await RedisStore.open(request.getfixturevalue("redis_url"))
        else:
            store = await SqliteStore.open(tmp_path / "relay.sqlite3")
        opened.append(store)
        return store

    if request.param == "redis":
        request.getfixturevalue("redis_url")  # flushed once, before any node opens it
    yield opener
    for store in opened:
        await store.close()


def _server(server_id: str, account_id: str, n: int = 1) -> Server:
    return Server(server_id, f"env_{n}", account_id, f"inst-{n}", "vm", "linux", "x86_64", "0.169.0", 100 + n)


def _device(client_id: str, server_id: str, created_at: int, **fields: str | None) -> Device:
    values = {name: fields.get(name) for name in (
        "display_name", "device_type", "platform", "os_version", "device_model", "app_version")}
    return Device(client_id, server_id, created_at=created_at, last_seen_at=None, **values)


async def _host(store: RelayStore, name: str = "alice", n: int = 1) -> tuple[str, str]:
    account_id = f"acct_{name}"
    await store.add_account(name, account_id, credentials.digest(f"cred-{name}"), 10)
    await store.add_server(_server(f"srv_{name}_{n}", account_id, n))
    return account_id, f"srv_{name}_{n}"


async def test_accounts_and_credentials(open_store: Opener) -> None:
    store = await open_store()
    account = await store.add_account("alice", "acct_a", credentials.digest("c1"), 10)
    assert (account.name, account.account_id, account.created_at) == ("alice", "acct_a", 10)
    with pytest.raises(StoreError):
        await store.add_account("alice", "acct_b", credentials.digest("c2"), 11)
    await store.add_account("bob", "acct_b", credentials.digest("c3"), 12)
    assert [a.name for a in await store.accounts()] == ["alice", "bob"]
    assert await store.account_for_credential(credentials.digest("c1")) == account
    assert await store.account_for_credential(credentials.digest("nope")) is None
    # Credentials per account are bounded: the oldest go first.
    for i in range(limits.RELAY_MAX_CREDENTIALS_PER_ACCOUNT):
        await store.add_credential("acct_a", credentials.digest(f"more{i}"), 20 + i)
    assert await store.account_for_credential(credentials.digest("c1")) is None
    assert await store.account_for_credential(credentials.digest("more0")) == account
    assert (await store.account_by_name("bob")).account_id == "acct_b"  # type: ignore[union-attr]


async def test_removing_an_account_cascades_and_changes_the_marker(open_store: Opener) -> None:
    node_a, node_b = await open_store(), await open_store()
    account_id, server_id = await _host(node_a)
    await node_a.add_host_token(server_id, credentials.digest("ht"), 10_000, 100)
    await node_a.add_pairing(Pairing(credentials.digest("code"), credentials.digest("MAN"), server_id, 10_000, None), 100)
    assert await node_a.claim_pairing(credentials.digest("code"), _device("client_1", server_id, 100),
                                      credentials.digest("dt"), 100)
    marker = await node_a.change_marker()  # a marker compares with the same node's earlier one
    removed = await node_b.remove_account("alice")
    assert removed is not None and removed.account_id == account_id
    assert await node_a.change_marker() != marker
    assert await node_a.account_by_name("alice") is None
    assert await node_a.account_for_credential(credentials.digest("cred-alice")) is None
    assert await node_a.server(server_id) is None and await node_a.server_by_environment("env_1") is None
    assert await node_a.server_by_installation(account_id, "inst-1") is None
    assert await node_a.host_token_server(credentials.digest("ht"), 100) is None
    assert await node_a.pairing_by_code(credentials.digest("code")) is None
    assert await node_a.pairing_by_manual(credentials.digest("MAN")) is None
    assert await node_a.device_for_token(credentials.digest("dt")) is None
    assert await node_a.existing_servers([server_id]) == set()
    assert await node_a.existing_devices(["client_1"]) == set()
    assert await node_b.remove_account("alice") is None
    # The name and environment are free again.
    await _host(node_a)


async def test_servers_and_host_tokens(open_store: Opener) -> None:
    store = await open_store()
    account_id, server_id = await _host(store)
    server = await store.server(server_id)
    assert server == _server(server_id, account_id)
    assert await store.server_by_environment("env_1") == server
    assert await store.server_by_installation(account_id, "inst-1") == server
    assert await store.server_count(account_id) == 1
    await store.update_server(Server(server_id, "env_1", account_id, "inst-1", "renamed", "macos", "arm64", "1", 0))
    updated = await store.server(server_id)
    assert updated is not None and (updated.name, updated.os, updated.created_at) == ("renamed", "macos", 101)
    await store.add_server(_server("srv_2", account_id, 2))
    assert [s.server_id for s in await store.servers()] == [server_id, "srv_2"]
    # Host tokens expire, and a server keeps a bounded number.
    await store.add_host_token(server_id, credentials.digest("t0"), 200, 100)
    assert await store.host_token_server(credentials.digest("t0"), 199) == server_id
    assert await store.host_token_server(credentials.digest("t0"), 200) is None
    for i in range(1, limits.RELAY_HOST_TOKENS_PER_SERVER + 1):
        await store.add_host_token(server_id, credentials.digest(f"t{i}"), 1000 + i, 100)
    assert await store.host_token_server(credentials.digest("t0"), 100) is None  # the oldest went
    assert await store.host_token_server(credentials.digest("t1"), 100) == server_id
    assert await store.host_token_server(credentials.digest(f"t{limits.RELAY_HOST_TOKENS_PER_SERVER}"), 100) == server_id


async def test_pairing_codes_are_single_use_across_nodes(open_store: Opener) -> None:
    node_a, node_b = await open_store(), await open_store()
    _, server_id = await _host(node_a)
    code, manual = credentials.digest("code"), credentials.digest("ABCD1234")
    assert await node_a.add_pairing(Pairing(code, manual, server_id, 1000, None), 100)
    # A manual code that collides with a remembered one is refused (the caller makes another).
    assert not await node_b.add_pairing(Pairing(credentials.digest("other"), manual, server_id, 1000, None), 100)
    assert (await node_b.pairing_by_manual(manual)) == Pairing(code, manual, server_id, 1000, None)

    results: list[bool] = []

    async def claim(store: RelayStore, i: int) -> None:
        device = _device(f"client_{i}", server_id, 100, display_name=f"phone {i}")
        results.append(await store.claim_pairing(code, device, credentials.digest(f"dt{i}"), 100))

    async with anyio.create_task_group() as tasks:
        for i in range(40):
            tasks.start_soon(claim, node_a if i % 2 else node_b, i)
    assert results.count(True) == 1
    winner = results.index(True)
    claimed = await node_a.pairing_by_code(code)
    assert claimed is not None and claimed.claimed_by is not None
    assert await node_a.device_count(server_id) == 1
    # Expired codes cannot be claimed.
    later = credentials.digest("later")
    assert await node_a.add_pairing(Pairing(later, None, server_id, 150, None), 100)
    assert not await node_b.claim_pairing(later, _device("client_x", server_id, 150), credentials.digest("dx"), 150)
    assert winner >= 0


async def test_live_codes_per_server_are_bounded(open_store: Opener) -> None:
    store = await open_store()
    _, server_id = await _host(store)
    keep = limits.RELAY_PAIRING_CODES_PER_SERVER
    for i in range(keep + 2):
        assert await store.add_pairing(Pairing(credentials.digest(f"c{i}"), None, server_id, 1000, None), 100 + i)
    assert await store.pairing_by_code(credentials.digest("c0")) is None
    assert await store.pairing_by_code(credentials.digest("c1")) is None
    assert await store.pairing_by_code(credentials.digest(f"c{keep + 1}")) is not None


async def test_devices_page_touch_and_remove(open_store: Opener) -> None:
    node_a, node_b = await open_store(), await open_store()
    _, server_id = await _host(node_a)
    for i in range(5):
        code = credentials.digest(f"code{i}")
        assert await node_a.add_pairing(Pairing(code, None, server_id, 10_000, None), 100)
        device = _device(f"client_{i}", server_id, 100 + i // 2, display_name=f"d{i}", platform="ios")
        assert await node_a.claim_pairing(code, device, credentials.digest(f"dt{i}"), 100)
    found = await node_b.device_for_token(credentials.digest("dt3"))
    assert found is not None and (found.client_id, found.display_name, found.platform) == ("client_3", "d3", "ios")
    assert found.device_type is None and found.created_at == 101
    page = await node_b.devices(server_id, after=None, limit=3, descending=False)
    assert [d.client_id for d in page] == ["client_0", "client_1", "client_2"]
    rest = await node_b.devices(server_id, after=(page[-1].created_at, page[-1].client_id), limit=3, descending=False)
    assert [d.client_id for d in rest] == ["client_3", "client_4"]
    down = await node_b.devices(None, after=(101, "client_3"), limit=10, descending=True)
    assert [d.client_id for d in down] == ["client_2", "client_1", "client_0"]
    await node_b.touch_device("client_1", 555)
    touched = await node_a.device("client_1")
    assert touched is not None and touched.last_seen_at == 555
    marker = await node_a.change_marker()
    removed = await node_b.remove_device("client_1")
    assert removed is not None and removed.client_id == "client_1"
    assert await node_a.change_marker() != marker
    assert await node_a.device("client_1") is None and await node_a.device_for_token(credentials.digest("dt1")) is None
    assert await node_a.device_count(server_id) == 4
    assert await node_a.existing_devices(["client_0", "client_1", "nope"]) == {"client_0"}
    assert await node_b.remove_device("client_1") is None
    await node_b.touch_device("client_1", 600)  # a removed device is not brought back
    assert await node_a.device("client_1") is None


async def test_audit_log_is_shared_and_filtered(open_store: Opener) -> None:
    node_a, node_b = await open_store(), await open_store()
    await node_a.audit("enroll", 1, account="alice", server_id="srv_1", peer="127.0.0.1")
    await node_b.audit("claim", 2, server_id="srv_1", client_id="client_1", detail="phone")
    await node_a.audit("enroll", 3, account="bob")
    events = await node_b.audit_events(limit=10)
    assert [(e.event, e.ts) for e in events] == [("enroll", 1), ("claim", 2), ("enroll", 3)]
    assert events[1].client_id == "client_1" and events[1].detail == "phone" and events[1].account is None
    assert [e.id for e in events] == sorted(e.id for e in events) and len({e.id for e in events}) == 3
    assert [e.ts for e in await node_a.audit_events(limit=2)] == [2, 3]
    assert [e.account for e in await node_a.audit_events(limit=10, event="enroll")] == ["alice", "bob"]


async def test_redis_unreachable_is_a_clear_store_error(tmp_path: Path) -> None:
    from tests.support.redis_server import RedisServer

    server = RedisServer(tmp_path / "redis")
    url = server.url.replace("redis://", "redis://:s3cret@")
    with pytest.raises(StoreError) as refused:
        await RedisStore.open(url)
    assert "cannot reach Redis" in str(refused.value) and "s3cret" not in str(refused.value)
    server.start()
    try:
        store = await RedisStore.open(server.url)
        await store.ping()
        server.stop()
        with pytest.raises(StoreUnavailable):
            await store.ping()
        with pytest.raises(StoreUnavailable):
            await store.add_account("x", "acct_x", b"d", 1)
        server.start()
        await store.ping()  # reconnects by itself
        await store.close()
    finally:
        server.stop()
    assert redacted("redis://user:pw@h:1/0") == "redis://user:***@h:1/0"
