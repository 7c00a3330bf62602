"""``appserver serve`` configuration from the environment, and what it warns about."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.launcher import APPSERVER, appserver_env, run
from tests.support import deadlines

pytestmark = pytest.mark.anyio

INITIALIZE = '{"id":1,"method":"initialize","params":{"clientInfo":{"name":"t","version":"1"}}}\n'


async def test_flags_come_from_appserver_environment_variables(tmp_path: Path) -> None:
    env = appserver_env(tmp_path, APPSERVER_BACKEND="builtin", APPSERVER_LISTEN="stdio:// ws://10.1.2.3:0")
    done = await run([*APPSERVER, "serve"], env=env, input="")
    # The listen list came from APPSERVER_LISTEN: the non-loopback listener is refused.
    assert done.returncode == 2, done.stderr
    assert "refusing to start non-loopback websocket listener 10.1.2.3:0 without auth" in done.stderr


async def test_a_flag_wins_over_the_environment(tmp_path: Path) -> None:
    env = appserver_env(tmp_path, APPSERVER_BACKEND="codex", APPSERVER_LISTEN="ws://10.1.2.3:0")
    done = await run([*APPSERVER, "serve", "--backend", "builtin", "--listen", "stdio://"], env=env, input=INITIALIZE)
    assert done.returncode == 0, done.stderr
    assert "backend builtin" in done.stderr and '"id":1' in done.stdout


async def test_c_overrides_with_the_builtin_backend_warn(tmp_path: Path) -> None:
    done = await run(
        [*APPSERVER, "serve", "--backend", "builtin", "-c", "model=x"], env=appserver_env(tmp_path), input=""
    )
    assert done.returncode == 0, done.stderr
    assert "ignoring 1 `-c` override(s)" in done.stderr


async def test_stdio_from_dev_null_exits_cleanly(tmp_path: Path) -> None:
    import subprocess

    with open("/dev/null", "rb") as null_in, open("/dev/null", "wb") as null_out:
        done = subprocess.run(
            [*APPSERVER, "serve", "--backend", "builtin"],
            stdin=null_in,
            stdout=null_out,
            stderr=subprocess.PIPE,
            env=appserver_env(tmp_path),
            timeout=deadlines.PROCESS,
            text=True,
        )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
