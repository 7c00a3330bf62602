"""The live remote path end to end, as users run it: ``appserver relay serve`` + a gateway
host (``appserver serve --remote-control``, built-in backend) + controllers on the relay's
controller WebSocket: the web controller in a real headless chromium (chat, approve,
decline, a relay restart), ``appserver remote connect`` under the real codex TUI, and
revocation closing a live controller.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
from playwright.async_api import Browser, expect
from websockets.exceptions import ConnectionClosed

from tests.interop.test_remote_tui import COMPOSER, _approve_then_decline, _chat, _tui
from tests.support import browser as chromium
from tests.support.client import RpcClient
from tests.support.launcher import APPSERVER, launch, run
from tests.support.qr import decode_terminal_qr
from tests.support.remote_stack import Stack, pair_cli, remote_stack, stdout_until
from tests.support import deadlines

pytestmark = [pytest.mark.interop, pytest.mark.anyio]

LOCAL = r"listening on (ws://127\.0\.0\.1:\d+)"


@pytest.fixture
async def stack(tmp_path: Path, short_tmp: Path) -> AsyncIterator[Stack]:
    async with remote_stack(tmp_path, short_tmp) as running:
        yield running


async def test_codex_tui_through_remote_connect_and_the_relay(
    codex_bin: str, stack: Stack, tmp_path: Path
) -> None:
    await pair_cli(stack, "laptop")
    argv = [*APPSERVER, "remote", "connect", "laptop", "--listen", "ws://127.0.0.1:0"]
    async with launch(argv, env=stack.env()) as bridge:
        url = (await bridge.line_matching(LOCAL)).group(1)
        tui = _tui(codex_bin, tmp_path, url)

        def drive() -> str:
            with tui:
                tui.wait_for("the composer", lambda s: COMPOSER in s)
                _chat(tui, "hello through the relay")
                tui.wait_for("the echo reply", lambda s: "echo: hello through the relay" in s)
                return _approve_then_decline(tui)

        screen = await anyio.to_thread.run_sync(drive)
        assert "echo: hello through the relay" in screen
        assert "stream" in bridge.stderr and "opened" in bridge.stderr


async def test_web_controller_chats_approves_declines_and_survives_a_relay_restart(
    stack: Stack, browser: Browser
) -> None:
    argv = [*APPSERVER, "pair", "--sock", str(stack.socket)]
    async with launch(argv, env=stack.env(), stdout=True) as pair:
        (link,) = decode_terminal_qr(await stdout_until(pair, "Waiting for a device"))
        async with chromium.page_at(browser, link, chromium.PHONE) as page:
            assert await pair.wait() == 0
            await chromium.send_message(page, "hello")
            await chromium.agent_says(page, "echo: hello")

            await chromium.send_message(page, "!run rm -rf build")
            await page.get_by_role("button", name="Approve").click()
            await chromium.agent_says(page, "approved: rm -rf build")
            await chromium.send_message(page, "!run make deploy")
            await page.get_by_role("button", name="Decline").click()
            await chromium.agent_says(page, "declined: make deploy")

            await stack.restart_relay()
            await chromium.send_message(page, "after restart")
            await chromium.agent_says(page, "echo: after restart")
            await expect(page.locator("#status")).to_have_text("Connected")


async def test_revoking_closes_the_live_controller_and_refuses_its_credential(stack: Stack) -> None:
    client_id = await pair_cli(stack, "laptop")
    argv = [*APPSERVER, "remote", "connect", "laptop", "--listen", "ws://127.0.0.1:0"]
    async with launch(argv, env=stack.env()) as bridge:
        url = (await bridge.line_matching(LOCAL)).group(1)
        async with RpcClient.connect_url(url) as client:
            await client.initialize()
            assert "data" in await client.call("thread/list", {})
            revoked = await run(
                [*APPSERVER, "devices", "revoke", client_id, "--sock", str(stack.socket)], env=stack.env()
            )
            assert revoked.returncode == 0, revoked.stderr
            with pytest.raises(ConnectionClosed) as closed:
                await client.wait_for(lambda m: False, timeout=deadlines.PROCESS)  # until the close
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4001
        assert await bridge.wait() == 1
        assert "Error: the relay refused this device's credential (revoked or unknown)" in bridge.stderr
    refused = await run(
        [*APPSERVER, "remote", "connect", "laptop", "--stdio"],
        input='{"id":1,"method":"initialize","params":{"clientInfo":{"name":"x","version":"1"}}}\n',
        env=stack.env(),
    )
    assert refused.returncode == 1
    assert refused.stderr.endswith(
        "Error: the relay refused this device's credential (revoked or unknown); "
        "pair again with `appserver remote pair`\n"
    )
