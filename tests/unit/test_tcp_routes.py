"""appserver.transports.tcp_routes: what each HTTP request gets, from literal requests.

The statuses and bodies are codex 0.169.0's (the interop differential test compares them
live); /metrics and the honest /readyz are ours.
"""

from __future__ import annotations

import hashlib

import pytest

from appserver.auth import CapabilityTokenPolicy
from appserver.transports.tcp_routes import HttpResponse, Route, route

UPGRADE = [
    ("Host", "127.0.0.1"),
    ("Connection", "Upgrade"),
    ("Upgrade", "websocket"),
    ("Sec-WebSocket-Version", "13"),
    ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
]
POLICY = CapabilityTokenPolicy(hashlib.sha256(b"tok").digest())


def decide(method: str = "GET", target: str = "/", headers: list[tuple[str, str]] | None = None, *,
           protocol: str = "HTTP/1.1", ready: bool = True, policy: object = None) -> HttpResponse | Route:
    return route(method, target, protocol, UPGRADE if headers is None else headers,
                 ready=ready, policy=policy, now=0)  # type: ignore[arg-type]


def replace(name: str, value: str | None) -> list[tuple[str, str]]:
    out = [(k, v) for k, v in UPGRADE if k != name]
    return out + ([(name, value)] if value is not None else [])


def test_health_routes() -> None:
    assert decide(target="/readyz", headers=[]) == HttpResponse(200)
    assert decide(target="/healthz", headers=[]) == HttpResponse(200)
    assert decide("HEAD", "/healthz", []) == HttpResponse(200)
    assert decide(target="/readyz?x=1", headers=[]) == HttpResponse(200)
    assert decide("POST", "/readyz", []) == HttpResponse(405, headers=(("Allow", "GET,HEAD"),))


def test_readyz_is_honest_and_healthz_is_not_auth_gated() -> None:
    assert decide(target="/readyz", headers=[], ready=False) == HttpResponse(503)
    assert decide(target="/healthz", headers=[], ready=False, policy=POLICY) == HttpResponse(200)
    assert decide(target="/readyz", headers=[], policy=POLICY) == HttpResponse(200)


def test_origin_is_refused_before_anything_else() -> None:
    assert decide(headers=[*UPGRADE, ("Origin", "https://evil.example")]) == HttpResponse(403)
    assert decide("POST", "/readyz", [("origin", "")]) == HttpResponse(403)


def test_metrics_needs_the_bearer_when_auth_is_configured() -> None:
    assert decide(target="/metrics", headers=[]) is Route.METRICS
    assert decide(target="/metrics", headers=[], policy=POLICY) == HttpResponse(401, "missing websocket bearer token")
    bad = [("Authorization", "Bearer nope")]
    assert decide(target="/metrics", headers=bad, policy=POLICY) == HttpResponse(401, "invalid websocket bearer token")
    good = [("Authorization", "Bearer tok")]
    assert decide(target="/metrics", headers=good, policy=POLICY) is Route.METRICS


@pytest.mark.parametrize(
    "method, headers, protocol, reply",
    [
        ("POST", UPGRADE, "HTTP/1.1", HttpResponse(405, "Request method must be `GET`")),
        ("GET", [], "HTTP/1.1", HttpResponse(400, "Connection header did not include 'upgrade'")),
        ("GET", replace("Connection", "keep-alive"), "HTTP/1.1", HttpResponse(400, "Connection header did not include 'upgrade'")),
        ("GET", replace("Upgrade", None), "HTTP/1.1", HttpResponse(400, "`Upgrade` header did not include 'websocket'")),
        ("GET", replace("Upgrade", "websocket, h2c"), "HTTP/1.1", HttpResponse(400, "`Upgrade` header did not include 'websocket'")),
        ("GET", replace("Sec-WebSocket-Key", None), "HTTP/1.1", HttpResponse(400, "`Sec-WebSocket-Key` header missing")),
        ("GET", replace("Sec-WebSocket-Version", "8"), "HTTP/1.1", HttpResponse(400, "`Sec-WebSocket-Version` header did not include '13'")),
        ("GET", UPGRADE, "HTTP/1.0", HttpResponse(426, "WebSocket request couldn't be upgraded since no upgrade state was present")),
    ],
)
def test_non_upgrade_requests(method: str, headers: list[tuple[str, str]], protocol: str, reply: HttpResponse) -> None:
    assert decide(method, "/", headers, protocol=protocol) == reply


def test_upgrade_checks_come_before_auth() -> None:
    assert decide("POST", policy=POLICY) == HttpResponse(405, "Request method must be `GET`")
    assert decide(policy=POLICY) == HttpResponse(401, "missing websocket bearer token")


def test_upgrade_on_any_path_with_upstream_header_leniency() -> None:
    assert decide(target="/rpc") is Route.UPGRADE
    assert decide(target="/readyz/") is Route.UPGRADE
    assert decide(headers=replace("Connection", "keep-alive, Upgrade")) is Route.UPGRADE
    assert decide(headers=replace("Upgrade", "WebSocket")) is Route.UPGRADE
    authorized = [*UPGRADE, ("authorization", "Bearer tok"), ("Authorization", "Bearer other")]
    assert decide(headers=authorized, policy=POLICY) is Route.UPGRADE  # the first header counts


def test_a_deeply_nested_jwt_is_401_on_every_route() -> None:
    from appserver.auth import SignedBearerPolicy
    from tests.support.jwt_table import SECRET, jwt_table

    policy = SignedBearerPolicy(SECRET)
    token = dict(jwt_table(0))["deeply nested header"]
    bearer = [("Authorization", f"Bearer {token}")]
    unauthorized = HttpResponse(401, "invalid websocket jwt")
    assert decide(headers=UPGRADE + bearer, policy=policy) == unauthorized
    assert decide(target="/metrics", headers=bearer, policy=policy) == unauthorized
