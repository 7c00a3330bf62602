"""Per-connection initialize rules (spec/transport.md §7.2–7.4). No event loop."""

from __future__ import annotations

from appserver import jsonrpc
from appserver.client_state import Rejection, ClientState, ClientPhase


def request(text: str) -> jsonrpc.Message:
    return jsonrpc.parse(text)


INIT = request(
    '{"id":"initialize","method":"initialize","params":{"clientInfo":{"name":"codex-tui",'
    '"title":null,"version":"0.169.0"},"capabilities":{"experimentalApi":true,'
    '"optOutNotificationMethods":["a/b",3]}}}'
)


def test_requests_before_initialize_are_refused() -> None:
    session = ClientState()
    assert session.check_request(request('{"id":1,"method":"thread/list"}')) == Rejection(
        -32600, "Not initialized"
    )
    assert session.state is ClientPhase.NEW


def test_initialize_records_capabilities_and_waits_for_the_answer() -> None:
    session = ClientState()
    assert session.check_request(INIT) is None
    assert session.state is ClientPhase.INITIALIZING
    assert session.experimental_api is True
    assert session.opt_out == frozenset({"a/b"})  # non-strings ignored
    assert (session.client_name, session.client_version) == ("codex-tui", "0.169.0")
    # Pipelined requests behind initialize are forwarded in order.
    assert session.check_request(request('{"id":2,"method":"thread/list"}')) is None
    assert not session.wants_notification("thread/started")
    session.on_answer(request('{"id":"initialize","result":{}}'))
    assert session.state is ClientPhase.READY
    assert session.wants_notification("thread/started")
    assert not session.wants_notification("a/b")


def test_second_initialize_is_refused_even_while_the_first_is_pending() -> None:
    session = ClientState()
    session.check_request(INIT)
    again = request('{"id":3,"method":"initialize","params":{}}')
    assert session.check_request(again) == Rejection(-32600, "Already initialized")


def test_error_answer_to_initialize_allows_another_try() -> None:
    session = ClientState()
    session.check_request(INIT)
    session.on_answer(request('{"id":"other","result":{}}'))  # not the initialize answer
    assert session.state is ClientPhase.INITIALIZING
    session.on_answer(request('{"id":"initialize","error":{"code":-32600,"message":"no"}}'))
    assert session.state is ClientPhase.NEW
    assert session.check_request(INIT) is None


def test_capabilities_absent_means_no_experimental_api() -> None:
    session = ClientState()
    session.check_request(request('{"id":1,"method":"initialize","params":{"clientInfo":{"name":"x"}}}'))
    assert session.experimental_api is False
    assert session.opt_out == frozenset()


def test_client_name_must_be_a_header_value() -> None:
    session = ClientState()
    bad = request('{"id":1,"method":"initialize","params":{"clientInfo":{"name":"a\\nb"}}}')
    assert session.check_request(bad) == Rejection(
        -32600, "Invalid clientInfo.name: 'a\nb'. Must be a valid HTTP header value."
    )
    assert session.state is ClientPhase.NEW
