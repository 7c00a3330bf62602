from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

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
