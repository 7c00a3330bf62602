"""Controllers end to end, as users run them: ``appserver relay serve`` + a gateway host
(``appserver serve --remote-control``, built-in backend) + ``appserver pair`` /
``devices`` / ``remote`` and the web controller in a real headless chromium.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from tests.support import browser as chromium
from tests.support.launcher import APPSERVER, appserver_env, launch, run
from tests.support.qr import decode_terminal_qr
from tests.support.remote_stack import Stack, pair_cli, remote_stack, rest_of_stdout, stdout_until

pytestmark = pytest.mark.anyio

@pytest.fixture
async def stack(tmp_path: Path, short_tmp: Path) -> AsyncIterator[Stack]:
    async with remote_stack(tmp_path, short_tmp) as running:
        yield running


async def test_pair_qr_decodes_to_the_link_the_web_controller_pairs_with(
    stack: Stack, browser: Browser
) -> None:
    argv = [*APPSERVER, "pair", "--sock", str(stack.socket), "--manual"]
    async with launch(argv, env=stack.env(), stdout=True) as pair:
        out = await stdout_until(pair, "Waiting for a device")
        (link,) = decode_terminal_qr(out)
        assert link.startswith(f"{stack.relay_url}#pair=")
        assert f"\n  {link}\n" in out  # the same link as text
        assert re.search(r"^Or type this code: [A-Z0-9-]{6,}$", out, re.M)
        assert "the code expires in " in out
        async with chromium.page_at(browser, link, chromium.PHONE) as page:  # pairs with no click
            assert await pair.wait() == 0
            assert "paired: Chrome on Android" in await rest_of_stdout(pair)
            await expect(page.locator("#host-name")).not_to_be_empty()
            assert "#" not in page.url
    listed = await run([*APPSERVER, "devices", "list", "--sock", str(stack.socket)], env=stack.env())
    assert listed.returncode == 0, listed.stderr
    (line,) = listed.stdout.splitlines()
    fields = line.split("\t")
    assert fields[1] == "Chrome on Android" and fields[2].startswith("phone")


async def test_devices_list_and_revoke(stack: Stack) -> None:
    client_id = await pair_cli(stack, "laptop")
    listed = await run([*APPSERVER, "devices", "list", "--sock", str(stack.socket)], env=stack.env())
    assert listed.stdout.split("\t")[:2] == [client_id, "laptop"]
    revoked = await run([*APPSERVER, "devices", "revoke", client_id, "--sock", str(stack.socket)], env=stack.env())
    assert (revoked.returncode, revoked.stdout) == (0, f"revoked {client_id}\n")
    listed = await run([*APPSERVER, "devices", "list", "--sock", str(stack.socket)], env=stack.env())
    assert listed.stdout == "no paired devices\n"


async def test_pair_and_devices_say_why_they_cannot_work(tmp_path: Path, short_tmp: Path) -> None:
    env = appserver_env(tmp_path)
    missing = short_tmp / "none.sock"
    for args in (["pair"], ["devices", "list"], ["devices", "revoke", "x"]):
        done = await run([*APPSERVER, *args, "--sock", str(missing)], env=env)
        assert done.returncode == 1
        assert done.stderr == (
            f"Error: no gateway is running at {missing} (No such file or directory); start one "
            "with `appserver serve --listen unix:// --remote-control URL ...`\n"
        )
    sock = short_tmp / "plain.sock"
    argv = [*APPSERVER, "serve", "--backend", "builtin", "--listen", f"unix://{sock}"]
    async with launch(argv, env=env) as gateway:
        await gateway.line_matching("listening on: unix://")
        done = await run([*APPSERVER, "pair", "--sock", str(sock)], env=env)
        assert (done.returncode, done.stderr) == (
            1,
            "Error: remote control is off on this gateway; start it with "
            "`--remote-control URL --remote-control-token-file FILE`\n",
        )
        done = await run([*APPSERVER, "devices", "list", "--sock", str(sock)], env=env)
        assert done.returncode == 1 and "not enrolled with a relay" in done.stderr
