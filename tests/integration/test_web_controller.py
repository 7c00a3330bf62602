"""The web controller in a real headless chromium, against a relay that follows the
controller API (tests/support/contract_relay.py) in front of a real gateway (built-in
backend): pairing from the link and by typed code, chat, approval cards, reconnects,
a forgotten stream, host offline, revocation and forget.
"""

from __future__ import annotations

import re

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from tests.support import browser as chromium
from tests.support.contract_relay import ContractRelay, relay_with_builtin_gateway

pytestmark = pytest.mark.anyio


@pytest.fixture
async def relay(tmp_path: Path) -> AsyncIterator[ContractRelay]:
    async with relay_with_builtin_gateway(tmp_path / "gateway-home") as relay:
        yield relay


async def test_pairs_from_the_link_without_a_click_and_chats(relay: ContractRelay, browser: Browser) -> None:
    code = relay.add_code()
    async with chromium.page_at(browser, f"{relay.url}#pair={code}", chromium.PHONE) as page:
        # The message box works right after pairing: no thread needs to be opened first.
        await chromium.send_message(page, "hello")
        await chromium.agent_says(page, "echo: hello")
        assert "#" not in page.url  # the code left the address bar
        await expect(page.locator("#status")).to_have_text("Connected")
        await expect(page.locator("#host-name")).to_have_text("home-box")
        (device,) = relay.devices.values()
        assert device["device_type"] == "phone"
        # Reloading keeps the credential (localStorage) and reconnects on a new stream.
        await page.reload()
        await expect(page.locator("#status")).to_have_text("Connected")
        await expect(page.get_by_role("button", name="echo: hello")).to_have_count(0)
        await expect(page.locator("#thread-list button")).to_have_count(1)
        await page.locator("#thread-list button").first.click()
        await chromium.agent_says(page, "echo: hello")
        assert len(relay.devices) == 1


async def test_manual_code_pairs_on_enter_and_a_bad_code_says_why(relay: ContractRelay, browser: Browser) -> None:
    relay.add_code("WXYZ-1234")
    async with chromium.page_at(browser, relay.url, chromium.DESKTOP) as page:
        code_box = page.get_by_label("Pairing code")
        await code_box.fill("nope")
        await code_box.press("Enter")
        await expect(page.locator("#pair-error")).to_have_text(
            "Pairing failed: pairing code not found or expired"
        )
        await code_box.fill("wxyz 1234")
        await code_box.press("Enter")
        await expect(page.locator("#status")).to_have_text("Connected")
        await chromium.send_message(page, "typed")
        await chromium.agent_says(page, "echo: typed")


async def test_approval_cards_approve_and_decline(relay: ContractRelay, browser: Browser) -> None:
    code = relay.add_code()
    async with chromium.page_at(browser, f"{relay.url}#pair={code}", chromium.PHONE) as page:
        await chromium.send_message(page, "!run rm -rf build")
        card = page.locator(".card")
        await expect(card.locator("pre")).to_have_text("rm -rf build")
        await page.get_by_role("button", name="Approve").click()
        await chromium.agent_says(page, "approved: rm -rf build")
        await expect(card.locator(".outcome")).to_have_text("Approved")
        await expect(page.get_by_role("button", name="Approve")).to_have_count(0)

        await chromium.send_message(page, "!run make deploy")
        await page.get_by_role("button", name="Decline").click()
        await chromium.agent_says(page, "declined: make deploy")
        await expect(page.locator(".card .outcome").last).to_have_text("Declined")


async def test_reconnects_resume_and_a_lost_stream_starts_over(relay: ContractRelay, browser: Browser) -> None:
    code = relay.add_code()
    async with chromium.page_at(browser, f"{relay.url}#pair={code}", chromium.DESKTOP) as page:
        await chromium.send_message(page, "one")
        await chromium.agent_says(page, "echo: one")
        (stream,) = relay.streams.values()

        await relay.drop_sockets()  # resumable: same stream, nothing lost or repeated
        await chromium.send_message(page, "two")
        await chromium.agent_says(page, "echo: two")
        assert list(relay.streams) == [stream.id]

        await relay.forget_streams()  # like a relay restart: a new stream, same thread
        await chromium.send_message(page, "three")
        await chromium.agent_says(page, "echo: three")
        await expect(page.locator(".msg.agent")).to_have_text(["echo: one", "echo: two", "echo: three"])
        assert len(relay.streams) == 1 and stream.id not in relay.streams


async def test_host_offline_is_shown_and_cleared(relay: ContractRelay, browser: Browser) -> None:
    code = relay.add_code()
    async with chromium.page_at(browser, f"{relay.url}#pair={code}", chromium.DESKTOP) as page:
        await expect(page.locator("#status")).to_have_text("Connected")
        await relay.set_host_online(False)
        await expect(page.locator("#host-offline")).to_be_visible()
        await expect(page.locator("#status")).to_have_text("Host offline")
        await chromium.send_message(page, "lost?")
        # The page may also post other system lines while the host is away (a thread it
        # had to open first): assert the one this send produced.
        await expect(
            page.locator(".msg.system", has_text="Not sent: host is offline").first
        ).to_have_text("Not sent: host is offline; the request was not delivered")
        await relay.set_host_online(True)
        await expect(page.locator("#host-offline")).to_be_hidden()
        await chromium.send_message(page, "back")
        await chromium.agent_says(page, "echo: back")


async def test_revocation_and_forget_return_to_pairing(relay: ContractRelay, browser: Browser) -> None:
    code = relay.add_code()
    async with chromium.page_at(browser, f"{relay.url}#pair={code}", chromium.DESKTOP) as page:
        await expect(page.locator("#status")).to_have_text("Connected")
        await relay.revoke("client-1")
        # The socket's 4001 close says so ("This device was revoked on the host. …"); a
        # socket that was reconnecting at that moment is refused instead ("The relay no
        # longer knows this device (revoked?). …"). Either way: back to pairing.
        await expect(page.locator("#pair-error")).to_have_text(
            re.compile(r"revoked.*Pair again to use it\.$")
        )
        assert await page.evaluate("localStorage.length") == 0

        code = relay.add_code()
        await page.goto(f"{relay.url}#pair={code}")
        await expect(page.locator("#status")).to_have_text("Connected")
        await page.get_by_role("button", name="Forget").click()
        await expect(page.get_by_label("Pairing code")).to_be_visible()
        assert await page.evaluate("localStorage.length") == 0
