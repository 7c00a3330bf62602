"""A real headless browser for tests: Debian's chromium driven by Playwright (async API).

scripts/test installs chromium with apt (``need chromium chromium``); Playwright's own
browser downloads are never used (``executable_path``). The flags keep chromium from
calling home or doing background work during a test.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

# Deadlines against hangs, not timing assertions: a loaded 2-core CI machine is slow.
expect.set_options(timeout=30_000)

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
    "user_agent": (
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/156.0.0.0 Mobile Safari/537.36"
    ),
}
DESKTOP = {"viewport": {"width": 1280, "height": 800}}


def chromium_path() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.fail("chromium is missing: run the suite with scripts/test (it installs it)")
    return path


@asynccontextmanager
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        instance = await playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        try:
            yield instance
        finally:
            await instance.close()


@asynccontextmanager
async def context(instance: Browser, **options: object) -> AsyncIterator[BrowserContext]:
    ctx = await instance.new_context(**options)  # type: ignore[arg-type]
    ctx.set_default_timeout(30_000)  # a deadline against hangs, not a timing assertion
    try:
        yield ctx
    finally:
        await ctx.close()


@asynccontextmanager
async def page_at(instance: Browser, url: str, device: Mapping[str, object] = PHONE) -> AsyncIterator[Page]:
    """One page, in a fresh ``device``-sized context, opened at ``url``."""
    async with context(instance, **device) as ctx:
        page = await ctx.new_page()
        await page.goto(url)
        yield page


# The web controller's page, as a user drives it.


async def send_message(page: Page, text: str) -> None:
    """Type ``text`` into the web controller's message box and press Enter."""
    box = page.get_by_label("Message")
    await box.fill(text)
    await box.press("Enter")


async def agent_says(page: Page, text: str) -> None:
    """Wait until the last agent message that contains ``text`` is exactly ``text``."""
    await expect(page.locator(".msg.agent").filter(has_text=text).last).to_have_text(text)
