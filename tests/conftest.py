from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support.launcher import short_dir
from tests.support.tls import pki  # noqa: F401  (the session-wide test PKI fixture)

if TYPE_CHECKING:
    from playwright.async_api import Browser

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def codex_bin() -> str:
    """The pinned real codex binary (scripts/test installs it; interop tests never skip)."""
    candidates = [
        os.environ.get("APPSERVER_TEST_CODEX_BIN", ""),
        str(ROOT / ".cache/codex/node_modules/.bin/codex"),
    ]
    for candidate in candidates:
        if candidate and shutil.which(candidate):
            return candidate
    pytest.fail("the pinned codex binary is missing: run the suite with scripts/test")


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A fresh folder with a short path under /tmp, for sockets (``sun_path`` is short)."""
    with short_dir() as path:
        yield path


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """One real redis-server for the session (tests/support/redis_server.py)."""
    from tests.support.redis_server import RedisServer

    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server) -> str:  # type: ignore[no-untyped-def]
    """The session's redis-server, emptied for this test."""
    redis_server.flush()
    return redis_server.url


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """A real headless chromium (tests/support/browser.py), closed after the test."""
    from tests.support import browser as chromium  # Playwright only where a test needs it

    async with chromium.browser() as instance:
        yield instance
