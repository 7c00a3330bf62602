"""Our gateway enrolled with our product relay (``appserver.relay``, in-process): the relay's
account credential is all the host needs (docs/relay.md "Accounts": the JWT-shaped token, its
``chatgpt_account_id`` claim), the relay's ``pairing_url`` reaches the local client as
``pairingUrl``, a controller's claim shows in ``pairing/status`` and the client list, and
revoke works."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.client import RpcClient
from tests.support.launcher import APPSERVER, appserver_env, launch, short_dir, unix_socket_accepts
from tests.support.relay import running_relay

pytestmark = pytest.mark.anyio


async def test_gateway_enrolls_and_pairs_with_our_relay(tmp_path: Path) -> None:
    async with running_relay(tmp_path / "relay.sqlite3") as relay:
        credential = await relay.account("alice")
        token_file = tmp_path / "alice.token"
        token_file.write_text(credential + "\n")
        os.chmod(token_file, 0o600)
        home = tmp_path / "home"
        home.mkdir()
        with short_dir() as short:
            sock = short / "gw.sock"
            argv = [*APPSERVER, "serve", "--backend", "builtin", "--listen", f"unix://{sock}",
                    "--remote-control", relay.url, "--remote-control-token-file", str(token_file)]
            async with launch(argv, env=appserver_env(home)) as gateway:
                await gateway.until(lambda: unix_socket_accepts(sock), "accepting")
                async with RpcClient.connect_unix(sock) as local:
                    await local.initialize("desk")
                    pair = await local.call("remoteControl/pairing/start", {"manualCode": True})
                    assert pair["environmentId"].startswith("env_")
                    assert pair["pairingUrl"] == f"{relay.url}#pair={pair['pairingCode']}"
                    assert pair["manualPairingCode"]
                    code = pair["manualPairingCode"]
                    status = await local.call("remoteControl/pairing/status", {"manualPairingCode": code})
                    assert status == {"claimed": False}
                    claimed = await relay.claim(code.lower(), display_name="Phone", device_type="phone")
                    status = await local.call("remoteControl/pairing/status", {"manualPairingCode": code})
                    assert status == {"claimed": True}
                    listed = await local.call("remoteControl/client/list", {"environmentId": pair["environmentId"]})
                    assert [c["clientId"] for c in listed["data"]] == [claimed["client_id"]]
                    assert listed["data"][0]["displayName"] == "Phone"
                    revoked = await local.call("remoteControl/client/revoke",
                                               {"environmentId": pair["environmentId"], "clientId": claimed["client_id"]})
                    assert revoked == {}
                    listed = await local.call("remoteControl/client/list", {"environmentId": pair["environmentId"]})
                    assert listed["data"] == []
            assert credential not in gateway.stderr and code not in gateway.stderr
