"""The relay's host HTTP API over real HTTP: exact JSON shapes, auth, 4xx for bad input."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from appserver import limits, strings
from appserver.relay import credentials
from tests.support import relay as relay_support
from tests.support.relay import ENROLL_BODY, account_headers, running_relay

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True, params=["sqlite", "redis"])
def relay_engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test here runs against both stores (SQLite file; a real redis-server)."""
    if request.param == "redis":
        monkeypatch.setattr(relay_support, "REDIS_URL", request.getfixturevalue("redis_url"))
    return str(request.param)

ENROLL = "wham/remote/control/server/enroll"
REFRESH = "wham/remote/control/server/refresh"
PAIR = "wham/remote/control/server/pair"
STATUS = "wham/remote/control/server/pair/status"


def _host(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _rfc3339(text: str) -> int:
    return int(datetime.strptime(text, "%Y-%m-%dT%H:%M:%S%z").timestamp())


async def test_enroll_answers_the_four_fields_codex_requires(tmp_path: Path) -> None:
    async with running_relay(tmp_path / "s.db") as r:
        cred = await r.account()
        answer = await r.http.post(ENROLL, json=ENROLL_BODY, headers=account_headers(cred))
        assert answer.status_code == 200
        body = answer.json()
        assert list(body) == ["server_id", "environment_id", "remote_control_token", "expires_at"]
        assert body["server_id"].startswith("srv_e_") and body["environment_id"].startswith("env_")
        assert _rfc3339(body["expires_at"]) - r.relay.now() in range(
            limits.RELAY_HOST_TOKEN_TTL - 5, limits.RELAY_HOST_TOKEN_TTL + 1
        )
        # The same installation enrolling again keeps its server and environment.
        again = await r.enroll(cred)
        assert (again["server_id"], again["environment_id"]) == (body["server_id"], body["environment_id"])
        assert again["remote_control_token"] != body["remote_control_token"]
        other = await r.enroll(cred, installation_id="another")
        assert other["server_id"] != body["server_id"]
        events = [e.event for e in await r.relay.store.audit_events(limit=10)]
        assert events.count("enroll") == 3


@pytest.mark.parametrize(
    "headers, status, detail",
    [
        ({}, 401, strings.RELAY_MISSING_BEARER),
        ({"Authorization": "Basic abc"}, 401, strings.RELAY_MISSING_BEARER),
        ({"Authorization": "Bearer nope", "chatgpt-account-id": "acct_x"}, 401, strings.RELAY_BAD_CREDENTIAL),
    ],
)
async def test_enroll_rejects_missing_and_unknown_credentials(
    tmp_path: Path, headers: dict[str, str], status: int, detail: str
) -> None:
    async with running_relay(tmp_path / "s.db") as r:
        await r.account()
        answer = await r.http.post(ENROLL, json=ENROLL_BODY, headers=headers)
        assert (answer.status_code, answer.json()) == (status, {"detail": detail})


async def test_account_id_must_match_the_credential(tmp_path: Path) -> None:
    async with running_relay(tmp_path / "s.db") as r:
        alice = await r.account("alice")
        bob = await r.account("bob")
        headers = {**account_headers(alice), "chatgpt-account-id": account_headers(bob)["chatgpt-account-id"]}
        answer = await r.http.post(ENROLL, json=ENROLL_BODY, headers=headers)
        assert (answer.status_code, answer.json()) == (403, {"detail": strings.RELAY_ACCOUNT_MISMATCH})
        answer = await r.http.post(ENROLL, json=ENROLL_BODY, headers={"Authorization": f"Bearer {alice}"})
        assert answer.status_code == 403


@pytest.mark.parametrize(
    "content, detail",
    [
        (b"{nope", strings.RELAY_BAD_JSON),
        (b"[1,2]", strings.RELAY_BODY_NOT_OBJECT),
        (b"", strings.RELAY_BODY_NOT_OBJECT),
        (b'{"name":3,"installation_id":"x"}', "`name` must be a string"),
        (b'{"name":"vm"}', "missing field `installation_id`"),
        (b'{"name":"vm","installation_id":"x","os":[1]}', "`os` must be a string"),
    ],
)
async def test_enroll_bodies_of_the_wrong_shape_get_400(tmp_path: Path, content: bytes, detail: str) -> None:
    async with running_relay(tmp_path / "s.db") as r:
        cred = await r.account()
        answer = await r.http.post(ENROLL, content=content, headers=account_headers(cred))
        assert (answer.status_code, answer.json()) == (400, {"detail": detail})


async def test_oversized_body_is_refused(tmp_path: Path) -> None:
    async with running_relay(tmp_path / "s.db") as r:
        cred = await r.account()
        big = b'{"name":"' + b"x" * (limits.RELAY_MAX_BODY_BYTES + 10) + b'"}'
        answer = await r.http.post(ENROLL, content=big, headers=account_headers(cred))
        assert answer.status_code == 413


async def test_hosts_per_account_are_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "RELAY_MAX_HOSTS_PER_ACCOUNT", 2)
    async with running_relay(tmp_path / "s.db") as r:
        cred = await r.account()
        await r.enroll(cred, installation_id="a")
        await r.enroll(cred, installation_id="b")
        answer = await r.http.post(
            ENROLL, json={**ENROLL_BODY, "installation_id": "c"}, headers=account_headers(cred)
        )
        assert answer.status_code == 403
        assert answer.json() == {"detail": strings.RELAY_TOO_MANY_HOSTS.format(max=2)}
        await r.enroll(cred, installation_id="a")  # re-enrolling a known one is fine


async def test_refresh_gives_a_new_token_and_404_for_unknown_or_foreign_servers(tmp_path: Path) -> None:
    async with running_relay(tmp_path / "s.db") as r:
        alice = await r.account("alice")
        bob = await r.account("bob")
        enrolled = await r.enroll(alice)
        body = {"server_id": enrolled["server_id"], "installation_id": ENROLL_BODY["installation_id"]}
        answer = await r.http.post(REFRESH, json=body, headers=account_headers(alice))
        assert answer.status_code == 200
        refreshed = answer.json()
        assert refreshed["server_id"] == enrolled["server_id"]
        assert refreshed["environment_id"] == enrolled["environment_id"]
        assert refreshed["remote_control_token"] != enrolled["remote_control_token"]
        # Both tokens stay valid: an open link is never cut by a newer token.
        for token in (enrolled["remote_control_token"], refreshed["remote_control_token"]):
            assert (await r.http.post(PAIR, json={}, headers=_host(token))).status_code == 200
        unknown = await r.http.post(REFRESH, json={**body, "server_id": "srv_e_nope"}, headers=account_headers(alice))
        assert (unknown.status_code, unknown.json()) == (404, {"detail": strings.RELAY_UNKNOWN_SERVER})
        foreign = await r.http.post(REFRESH, json=body, headers=account_headers(bob))
        assert foreign.status_code == 404


async def test_pair_mints_codes_and_status_reports_them(tmp_path: Path) -> None:
    async with running_relay(tmp_path / "s.db") as r:
        cred = await r.account()
        host = await r.enroll(cred)
        token = host["remote_control_token"]
        answer = await r.http.post(PAIR, json={"manual_code": True}, headers=_host(token))
        assert answer.status_code == 200
        codes = answer.json()
        assert list(codes) == [
            "pairing_code", "manual_pairing_code", "server_id", "environment_id", "expires_at", "pairing_url",
        ]
        assert codes["server_id"] == host["server_id"] and codes["environment_id"] == host["environment_id"]
        assert codes["pairing_url"] == f"{r.url}#pair={codes['pairing_code']}"
        assert _rfc3339(codes["expires_at"]) - r.relay.now() in range(
            limits.RELAY_PAIRING_CODE_TTL - 5, limits.RELAY_PAIRING_CODE_TTL + 1
        )
        plain = (await r.http.post(PAIR, json={}, headers=_host(token))).json()
        assert plain["manual_pairing_code"] is None
        for body in ({"pairing_code": codes["pairing_code"]}, {"manual_pairing_code": codes["manual_pairing_code"]}):
            status = await r.http.post(STATUS, json=body, headers=_host(token))
            assert (status.status_code, status.json()) == (200, {"claimed": False})
        await r.claim(codes["manual_pairing_code"].lower().replace("-", " "), display_name="Phone")
        for body in ({"pairing_code": codes["pairing_code"]}, {"manual_pairing_code": codes["manual_pairing_code"]}):
            status = await r.http.post(STATUS, json=body, headers=_host(token))
            assert (status.status_code, status.json()) == (200, {"claimed": True})
        status = await r.http.post(STATUS, json={"pairing_code": plain["pairing_code"]}, headers=_host(token))
        assert status.json() == {"claimed": False}


async def test_pair_status_errors(tmp_path: Path) -> None:
    async with running_relay(tmp_path / "s.db") as r:
        cred = await r.account()
        token = (await r.enroll(cred))["remote_control_token"]
        other = (await r.enroll(cred, installation_id="other"))["remote_control_token"]
        codes = await r.pair(token, manual=True)
        for body in ({}, {"pairing_code": "a", "manual_pairing_code": "b"}):
            answer = await r.http.post(STATUS, json=body, headers=_host(token))
            assert (answer.status_code, answer.json()) == (400, {"detail": strings.RELAY_PAIR_STATUS_ONE_CODE})
        answer = await r.http.post(STATUS, json={"pairing_code": 5}, headers=_host(token))
        assert answer.status_code == 400
        answer = await r.http.post(STATUS, json={"pairing_code": "nope"}, headers=_host(token))
        assert (answer.status_code, answer.json()) == (404, {"detail": strings.RELAY_PAIRING_NOT_FOUND})
        # Another server's code is unknown to this one.
        answer = await r.http.post(STATUS, json={"pairing_code": codes["pairing_code"]}, headers=_host(other))
        assert answer.status_code == 404
        answer = await r.http.post(STATUS, json={"pairing_code": codes["pairing_code"]}, headers=_host("rct_bad"))
        assert (answer.status_code, answer.json()) == (401, {"detail": strings.RELAY_BAD_HOST_TOKEN})
        answer = await r.http.post(PAIR, json={"manual_code": "yes"}, headers=_host(token))
        assert answer.status_code == 400


async def test_expired_codes_are_410_on_status_and_404_on_claim(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "RELAY_PAIRING_CODE_TTL", -1)
    async with running_relay(tmp_path / "s.db") as r:
        token = (await r.enroll(await r.account()))["remote_control_token"]
        codes = await r.pair(token, manual=True)
        answer = await r.http.post(STATUS, json={"pairing_code": codes["pairing_code"]}, headers=_host(token))
        assert (answer.status_code, answer.json()) == (410, {"detail": strings.RELAY_PAIRING_EXPIRED})
        answer = await r.http.post("api/v1/pair/claim", json={"code": codes["pairing_code"]})
        assert (answer.status_code, answer.json()) == (404, {"detail": strings.RELAY_CLAIM_NOT_FOUND})


async def test_codes_are_single_use(tmp_path: Path) -> None:
    async with running_relay(tmp_path / "s.db") as r:
        token = (await r.enroll(await r.account()))["remote_control_token"]
        codes = await r.pair(token, manual=True)
        first = await r.claim(codes["pairing_code"])
        assert first["client_id"].startswith("client_") and first["device_token"].startswith("rdt_")
        for code in (codes["pairing_code"], codes["manual_pairing_code"]):
            answer = await r.http.post("api/v1/pair/claim", json={"code": code})
            assert answer.status_code == 404


async def test_expired_host_token_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "RELAY_HOST_TOKEN_TTL", -1)
    async with running_relay(tmp_path / "s.db") as r:
        token = (await r.enroll(await r.account()))["remote_control_token"]
        answer = await r.http.post(PAIR, json={}, headers=_host(token))
        assert answer.status_code == 401


async def test_claim_answer_and_client_list_shapes(tmp_path: Path) -> None:
    async with running_relay(tmp_path / "s.db") as r:
        cred = await r.account()
        host = await r.enroll(cred)
        env = host["environment_id"]
        codes = await r.pair(host["remote_control_token"])
        claimed = await r.claim(
            codes["pairing_code"], display_name="Phone", device_type="phone", platform="ios",
            os_version="18.1", device_model="iPhone16,1", app_version="1.0",
        )
        assert list(claimed) == ["client_id", "device_token", "environment_id", "server_name", "relay_url"]
        assert (claimed["environment_id"], claimed["server_name"], claimed["relay_url"]) == (env, "vm", r.url)
        # The device token is stored as a digest only.
        assert await r.relay.store.device_for_token(credentials.digest(claimed["device_token"])) is not None
        answer = await r.http.get(f"wham/remote/control/environments/{env}/clients?", headers=account_headers(cred))
        assert answer.status_code == 200
        body = answer.json()
        assert body["cursor"] is None
        (item,) = body["items"]
        last_seen = item.pop("last_seen_at")
        assert abs(_rfc3339(last_seen) - r.relay.now()) < 60
        assert item == {
            "client_id": claimed["client_id"], "display_name": "Phone", "device_type": "phone",
            "platform": "ios", "os_version": "18.1", "device_model": "iPhone16,1", "app_version": "1.0",
        }


async def test_client_list_pages_with_cursor_in_both_orders(tmp_path: Path) -> None:
    async with running_relay(tmp_path / "s.db") as r:
        cred = await r.account()
        host = await r.enroll(cred)
        ids = []
        for i in range(5):
            codes = await r.pair(host["remote_control_token"])
            ids.append((await r.claim(codes["pairing_code"], display_name=f"d{i}"))["client_id"])
        url = f"wham/remote/control/environments/{host['environment_id']}/clients"
        orders: dict[str, list[str]] = {}
        for order in ("asc", "desc"):
            seen: list[str] = []
            cursor = ""
            while True:
                answer = await r.http.get(
                    url, params={"limit": "2", "order": order, **({"cursor": cursor} if cursor else {})},
                    headers=account_headers(cred),
                )
                body = answer.json()
                seen += [item["client_id"] for item in body["items"]]
                if body["cursor"] is None:
                    break
                cursor = body["cursor"]
            assert sorted(seen) == sorted(ids) and len(seen) == 5
            orders[order] = seen
        assert orders["asc"] == orders["desc"][::-1]


@pytest.mark.parametrize(
    "query, detail",
    [
        ("limit=0", strings.RELAY_BAD_LIMIT.format(max=100)),
        ("limit=101", strings.RELAY_BAD_LIMIT.format(max=100)),
        ("limit=x", strings.RELAY_BAD_LIMIT.format(max=100)),
        ("order=up", strings.RELAY_BAD_ORDER),
        ("cursor=%21%21", strings.RELAY_BAD_CURSOR),
    ],
)
async def test_client_list_bad_queries_get_400(tmp_path: Path, query: str, detail: str) -> None:
    async with running_relay(tmp_path / "s.db") as r:
        cred = await r.account()
        env = (await r.enroll(cred))["environment_id"]
        answer = await r.http.get(f"wham/remote/control/environments/{env}/clients?{query}", headers=account_headers(cred))
        assert (answer.status_code, answer.json()) == (400, {"detail": detail})


async def test_client_list_and_revoke_of_unknown_or_foreign_environments_404(tmp_path: Path) -> None:
    async with running_relay(tmp_path / "s.db") as r:
        alice = await r.account("alice")
        bob = await r.account("bob")
        env = (await r.enroll(alice))["environment_id"]
        for cred, environment in ((alice, "env_nope"), (bob, env)):
            answer = await r.http.get(f"wham/remote/control/environments/{environment}/clients", headers=account_headers(cred))
            assert (answer.status_code, answer.json()) == (404, {"detail": strings.RELAY_ENVIRONMENT_NOT_FOUND})
            answer = await r.http.delete(f"wham/remote/control/environments/{environment}/clients/x", headers=account_headers(cred))
            assert answer.status_code == 404


async def test_revoke_removes_the_device_and_audits(tmp_path: Path) -> None:
    async with running_relay(tmp_path / "s.db") as r:
        cred = await r.account()
        host = await r.enroll(cred)
        claimed = await r.claim((await r.pair(host["remote_control_token"]))["pairing_code"])
        url = f"wham/remote/control/environments/{host['environment_id']}/clients/{claimed['client_id']}"
        answer = await r.http.delete(url, headers=account_headers(cred))
        assert (answer.status_code, answer.content) == (204, b"")
        assert await r.relay.store.device_for_token(credentials.digest(claimed["device_token"])) is None
        answer = await r.http.delete(url, headers=account_headers(cred))
        assert (answer.status_code, answer.json()) == (404, {"detail": strings.RELAY_CLIENT_NOT_FOUND})
        events = [(e.event, e.client_id) for e in await r.relay.store.audit_events(limit=20)]
        assert ("claim", claimed["client_id"]) in events and ("revoke", claimed["client_id"]) in events


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "ps/plugins/installed?limit=200&includeDownloadUrls=true"),
        ("GET", "ps/plugins/installed?limit=200"),
        ("GET", "wham/accounts/check"),
        ("POST", "codex/analytics-events/events"),
        ("POST", "ps/mcp"),
        ("GET", "wham/settings/user"),
        ("GET", "backend-api/wham/remote/control/server/enroll"),
    ],
)
async def test_unrelated_backend_paths_are_404(tmp_path: Path, method: str, path: str) -> None:
    async with running_relay(tmp_path / "s.db") as r:
        answer = await r.http.request(method, path)
        assert (answer.status_code, answer.json()) == (404, {"detail": strings.RELAY_NOT_FOUND})


async def test_probes_metrics_and_placeholder_page(tmp_path: Path) -> None:
    async with running_relay(tmp_path / "s.db", web_root=tmp_path / "no-web") as r:
        assert (await r.http.get("healthz")).status_code == 200
        assert (await r.http.get("readyz")).status_code == 200
        page = await r.http.get("")
        assert page.status_code == 200 and "appserver relay" in page.text
        cred = await r.account()
        await r.enroll(cred)
        await r.http.post(ENROLL, json=ENROLL_BODY, headers={"Authorization": "Bearer x"})
        text = (await r.http.get("metrics")).text
        assert 'appserver_relay_events_total{event="enroll"} 1.0' in text
        assert 'appserver_relay_auth_failures_total{kind="account"} 1.0' in text
        assert "Bearer" not in text and cred not in text


async def test_web_root_files_are_served(tmp_path: Path) -> None:
    web = tmp_path / "web"
    web.mkdir()
    (web / "index.html").write_text("<p>controller</p>")
    (web / "app.js").write_text("console.log(1)")
    async with running_relay(tmp_path / "s.db", web_root=web) as r:
        page = await r.http.get("")
        assert (page.status_code, page.text) == (200, "<p>controller</p>")
        script = await r.http.get("app.js")
        assert script.status_code == 200 and "javascript" in script.headers["content-type"]
        assert (await r.http.get("../s.db")).status_code == 404
        assert (await r.http.get("missing.css")).status_code == 404
