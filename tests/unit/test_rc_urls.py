"""Remote-control base URLs: https anywhere, plain http only to loopback; derived URLs."""

from __future__ import annotations

import pytest

from appserver.remote_control.urls import RemoteControlUrlError, normalize


def test_derived_urls_from_a_loopback_http_base_without_a_trailing_slash() -> None:
    target = normalize("http://localhost:8080/backend-api")
    assert target.base_url == "http://localhost:8080/backend-api/"
    assert target.websocket_url == "ws://localhost:8080/backend-api/wham/remote/control/server"
    assert target.enroll_url == "http://localhost:8080/backend-api/wham/remote/control/server/enroll"
    assert target.refresh_url.endswith("/wham/remote/control/server/refresh")
    assert target.pair_url.endswith("/wham/remote/control/server/pair")
    assert target.pair_status_url.endswith("/wham/remote/control/server/pair/status")


def test_https_to_any_host_gives_wss() -> None:
    target = normalize("https://relay.example.net/")
    assert target.websocket_url == "wss://relay.example.net/wham/remote/control/server"


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9/", "http://[::1]:9/x/", "http://localhost/", "http://127.8.9.10/"]
)
def test_plain_http_to_loopback_is_allowed(url: str) -> None:
    assert normalize(url).websocket_url.startswith("ws://")


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("http://example.com/backend-api/", "example.com"),
        ("http://chatgpt.com/backend-api/", "chatgpt.com"),
        ("http://foo.localhost/", "foo.localhost"),
        ("http://10.0.0.1:8080/", "10.0.0.1"),
    ],
)
def test_plain_http_elsewhere_is_refused_naming_the_host(url: str, host: str) -> None:
    with pytest.raises(RemoteControlUrlError) as err:
        normalize(url)
    assert f"plain http to `{host}`" in str(err.value)
    assert url in str(err.value)


@pytest.mark.parametrize("url", ["ftp://x/", "relay.example.net", "https://", "ws://127.0.0.1/"])
def test_other_schemes_and_garbage_are_refused(url: str) -> None:
    with pytest.raises(RemoteControlUrlError) as err:
        normalize(url)
    assert str(err.value).startswith(f"invalid remote control URL `{url}`")


def test_a_base_already_ending_in_wham_gets_the_path_twice_as_upstream() -> None:
    target = normalize("https://h/backend-api/wham/remote/control/server")
    assert target.enroll_url == "https://h/backend-api/wham/remote/control/server/wham/remote/control/server/enroll"


def test_client_urls_percent_encode_each_id() -> None:
    target = normalize("http://127.0.0.1:1/backend-api/")
    assert target.clients_url("env /?") == (
        "http://127.0.0.1:1/backend-api/wham/remote/control/environments/env%20%2F%3F/clients"
    )
    assert target.clients_url("e", "c/1").endswith("/environments/e/clients/c%2F1")
