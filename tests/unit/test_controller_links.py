"""Pairing links, relay URLs and the paired-device store (no event loop)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from appserver.errors import ConfigError, RuntimeFailure
from appserver.controller.credentials import (
    Device,
    DeviceStore,
    default_folder,
    device_from_claim,
    name_from,
)
from appserver.controller.links import (
    PairingTarget,
    claim_url,
    controller_ws_url,
    normalize_relay_url,
    pairing_link,
    parse_pairing,
)


def test_link_round_trip() -> None:
    link = pairing_link("https://relay.example/", "abc_DEF-123")
    assert link == "https://relay.example/#pair=abc_DEF-123"
    assert parse_pairing(link) == PairingTarget("https://relay.example/", "abc_DEF-123")


def test_link_under_a_path_and_loopback_http() -> None:
    assert parse_pairing("http://127.0.0.1:8787/r#pair=x") == PairingTarget(
        "http://127.0.0.1:8787/r/", "x"
    )
    assert parse_pairing(" http://localhost:9/#pair=y ").code == "y"


def test_bare_code_needs_relay() -> None:
    with pytest.raises(ConfigError, match="--relay"):
        parse_pairing("ABCD-EFGH")
    target = parse_pairing("ABCD-EFGH", relay="https://relay.example")
    assert target == PairingTarget("https://relay.example/", "ABCD-EFGH")
    assert "ABCD" not in repr(target)


@pytest.mark.parametrize(
    "text",
    ["https://relay.example/", "https://relay.example/#pair=", "https://relay.example/#x=1"],
)
def test_links_without_a_code_are_refused(text: str) -> None:
    with pytest.raises(ConfigError, match="not a pairing link"):
        parse_pairing(text)


def test_link_and_relay_must_agree() -> None:
    with pytest.raises(ConfigError, match="--relay says"):
        parse_pairing("https://a.example/#pair=x", relay="https://b.example/")
    assert parse_pairing("https://a.example/#pair=x", relay="https://a.example").code == "x"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://relay.example/", "refusing plain http:// to `relay.example`"),
        ("ftp://relay.example/", "invalid relay URL"),
        ("https://user:pw@relay.example/", "invalid relay URL"),
        ("https://relay.example:99999/", "invalid relay URL"),
        ("https:///", "invalid relay URL"),
    ],
)
def test_unsafe_or_bad_relay_urls(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        normalize_relay_url(url)


def test_api_urls() -> None:
    assert claim_url("https://r.example/x/") == "https://r.example/x/api/v1/pair/claim"
    assert controller_ws_url("https://r.example/") == "wss://r.example/api/v1/controller/ws"
    assert (
        controller_ws_url("http://127.0.0.1:8787/", "s-1", 7)
        == "ws://127.0.0.1:8787/api/v1/controller/ws?stream=s-1&received=7"
    )


CLAIM = {
    "client_id": "cl_1",
    "device_token": "secret-token",
    "environment_id": "env_1",
    "server_name": "home box",
    "relay_url": "http://127.0.0.1:8787/",
}


def test_store_saves_0600_in_a_0700_folder_and_loads(tmp_path: Path) -> None:
    store = DeviceStore(tmp_path / "cfg" / "remote")
    device = device_from_claim("home", CLAIM, 1764500000)
    path = store.save(device)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(path.parent.parent).st_mode) == 0o700
    assert store.load("home") == device
    assert store.choose(None) == device
    assert "secret-token" not in repr(device)
    assert store.names() == ["home"]


def test_store_choose_and_forget(tmp_path: Path) -> None:
    store = DeviceStore(tmp_path)
    with pytest.raises(ConfigError, match="no paired hosts"):
        store.choose(None)
    store.save(device_from_claim("a", CLAIM, 1))
    store.save(device_from_claim("b", CLAIM, 2))
    with pytest.raises(ConfigError, match=r"several paired hosts \(a, b\)"):
        store.choose(None)
    assert store.free_name("a") == "a-2"
    store.forget("a")
    assert store.choose(None).name == "b"
    with pytest.raises(ConfigError, match=r"no paired host named `a` \(paired: b\)"):
        store.forget("a")


def test_bad_names_and_files(tmp_path: Path) -> None:
    store = DeviceStore(tmp_path)
    for bad in ("", "../x", "-x", "a/b", "x" * 64):
        with pytest.raises(ConfigError, match="invalid name"):
            store.path(bad)
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(RuntimeFailure, match="not a readable paired-host file"):
        store.load("broken")
    assert name_from("Jane's MacBook Pro!") == "Jane-s-MacBook-Pro"
    assert name_from("!!!") == "host"


def test_claim_answer_shape_is_checked() -> None:
    for broken in (None, [], {**CLAIM, "device_token": ""}, {k: v for k, v in CLAIM.items() if k != "client_id"}):
        with pytest.raises(RuntimeFailure, match="not a controller-API claim result"):
            device_from_claim("x", broken, 0)


def test_default_folder(tmp_path: Path) -> None:
    assert default_folder({"APPSERVER_CONFIG_DIR": str(tmp_path)}) == tmp_path / "remote"
    assert default_folder({}).name == "remote"


def test_device_json_round_trip(tmp_path: Path) -> None:
    device = Device("n", "https://r/", "c", "e", "s", 5, "t")
    assert Device.from_json(device.to_json(), tmp_path) == device


def test_terminal_qr_decodes_to_the_link() -> None:
    from appserver.controller.pairing import qr_text
    from tests.support.qr import decode_terminal_qr

    link = "https://relay.example/#pair=gkmS2kZ9nK0J3t6vXq1w8A"
    assert decode_terminal_qr(qr_text(link)) == [link]
    assert decode_terminal_qr("not a qr code\n█ ▀▄\n") == []
