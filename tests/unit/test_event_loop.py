"""APPSERVER_EVENT_LOOP: uvloop by default where installed, asyncio on request."""

from __future__ import annotations

import asyncio

import pytest

from appserver import event_loop
from appserver.errors import ConfigError


def test_uvloop_is_the_default_where_it_is_installed() -> None:
    assert event_loop.uvloop_available()  # a dependency on Linux and macOS
    assert event_loop.choose({}) == "uvloop"
    assert event_loop.choose({"APPSERVER_EVENT_LOOP": "auto"}) == "uvloop"
    assert event_loop.choose({"APPSERVER_EVENT_LOOP": " UVLOOP "}) == "uvloop"


def test_asyncio_turns_uvloop_off() -> None:
    assert event_loop.choose({"APPSERVER_EVENT_LOOP": "asyncio"}) == "asyncio"


def test_an_unknown_value_is_a_usage_error() -> None:
    with pytest.raises(ConfigError, match="invalid APPSERVER_EVENT_LOOP `trio`; expected one of: auto, uvloop, asyncio"):
        event_loop.choose({"APPSERVER_EVENT_LOOP": "trio"})


def test_uvloop_requested_but_missing_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(event_loop, "uvloop_available", lambda: False)
    assert event_loop.choose({}) == "asyncio"
    with pytest.raises(ConfigError, match="uvloop is not installed"):
        event_loop.choose({"APPSERVER_EVENT_LOOP": "uvloop"})


@pytest.mark.parametrize("value, loop_module", [("asyncio", "asyncio"), ("auto", "uvloop")])
def test_run_uses_the_chosen_loop(value: str, loop_module: str) -> None:
    async def loop_type() -> str:
        return type(asyncio.get_running_loop()).__module__

    assert event_loop.run(loop_type, env={"APPSERVER_EVENT_LOOP": value}).startswith(loop_module)


def test_a_tls_listener_runs_on_asyncio_and_refuses_uvloop() -> None:
    assert event_loop.choose({}, tls_listener=True) == "asyncio"
    assert event_loop.choose({"APPSERVER_EVENT_LOOP": "asyncio"}, tls_listener=True) == "asyncio"
    with pytest.raises(ConfigError, match="does not support wss:// listeners"):
        event_loop.choose({"APPSERVER_EVENT_LOOP": "uvloop"}, tls_listener=True)
