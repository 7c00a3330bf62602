"""Screenshots of the web controller for docs/pairing.md, taken in headless chromium.

    .venv/bin/python -m tests.support.screenshots docs/images

Starts a built-in-backend gateway and the controller-API test relay in front of it, pairs
a phone-sized and a desktop-sized page, chats, raises a ``!run`` approval card, and saves
PNGs into the folder given.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import anyio
from playwright.async_api import expect

from tests.support import browser as chromium
from tests.support.contract_relay import relay_with_builtin_gateway


async def shoot(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        async with relay_with_builtin_gateway(Path(tmp)) as relay:
            async with chromium.browser() as browser:
                async with chromium.context(browser, **chromium.PHONE) as ctx:
                    page = await ctx.new_page()
                    await page.goto(relay.url)
                    await page.get_by_label("Pairing code").fill("K7QF-2M9X")
                    await page.screenshot(path=out / "web-controller-pair.png")
                    await page.goto(f"{relay.url}#pair={relay.add_code()}")
                    await chromium.send_message(page, "hello from my phone")
                    await expect(page.locator(".msg.agent")).to_have_text("echo: hello from my phone")
                    await chromium.send_message(page, "!run npm test")
                    await expect(page.get_by_role("button", name="Approve")).to_be_visible()
                    await page.locator("#threads-box").evaluate("d => d.open = false")
                    await page.screenshot(path=out / "web-controller-approval.png")
                async with chromium.context(browser, **chromium.DESKTOP) as ctx:
                    page = await ctx.new_page()
                    await page.goto(f"{relay.url}#pair={relay.add_code()}")
                    await chromium.send_message(page, "summarise the build log")
                    await expect(page.locator(".msg.agent").last).to_have_text("echo: summarise the build log")
                    await chromium.send_message(page, "!run make deploy")
                    await page.get_by_role("button", name="Decline").click()
                    await expect(page.locator(".msg.agent").last).to_have_text("declined: make deploy")
                    await page.screenshot(path=out / "web-controller-desktop.png")


if __name__ == "__main__":
    anyio.run(shoot, Path(sys.argv[1] if len(sys.argv) > 1 else "docs/images"))
