"""Starting the processes a scenario measures: codex, the gateway, the mock model, reference servers.

Each ``start_*`` returns once the service accepts connections, or raises
:class:`Unavailable` with the reason (typically the one ``Error: …`` line the gateway
prints for a flag this build does not support), so a scenario that cannot run
reports "unavailable: <why>" instead of crashing the run.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from benchmarks.procs import Runner
from tests.support.launcher import Launched, LaunchFailed, unix_socket_accepts

ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT = 60.0
#: Banner line of a TCP listener: ws (ours, upstream's, the reference servers'), e.g.
#: ``  listening on: ws://127.0.0.1:4511``, or tcp (the reference byte relay's).
_TCP_BANNER = re.compile(r"listening on: ((?:ws|tcp)://[0-9A-Za-z.\[\]:]+)")


class Unavailable(Exception):
    """The scenario cannot run here (yet); ``str()`` says why."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a client connects: a WebSocket over a Unix socket path, or a ws:// URL (or
    the byte relay's tcp://HOST:PORT, which speaks whatever its upstream speaks)."""

    kind: str  # "unix" | "tcp"
    address: str

    def __str__(self) -> str:
        return f"unix://{self.address}" if self.kind == "unix" else self.address


def python_env(**extra: str) -> dict[str, str]:
    """The environment for Python children: this checkout importable, no stray buffering."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.pop("PYTHONASYNCIODEBUG", None)
    env.update(extra)
    return env


async def _ready(
    proc: Launched,
    what: str,
    *,
    line: re.Pattern[str] | str | None = None,
    check: Callable[[], bool] | None = None,
) -> str:
    """Wait for a stderr ``line`` (returns its first group) or for ``check()``;
    :class:`Unavailable` with the process's last error line if it exits first."""
    try:
        if line is not None:
            return (await proc.line_matching(line, timeout=READY_TIMEOUT)).group(1)
        await proc.until(check, what, timeout=READY_TIMEOUT)
        return ""
    except LaunchFailed:
        if proc.returncode is None:
            raise Unavailable(f"{what}: not ready after {READY_TIMEOUT:.0f}s") from None
        raise Unavailable(f"{what}: {proc.last_error_line}") from None


# --- the mock Responses API -------------------------------------------------------------


async def start_mock(runner: Runner, *, reply: str, chunks: int) -> str:
    """tests/support/mock_responses.py in its own process; returns its base URL (…/v1)."""
    proc = await runner.start(
        "mock",
        [
            sys.executable, "-m", "tests.support.mock_responses",
            "--port", "0", "--chunks", str(chunks), "--delay", "0", "--reply", reply,
        ],
        env=python_env(),
        cwd=ROOT,
    )  # fmt: skip
    return await _ready(proc, "mock Responses server", line=r"MOCK_RESPONSES_LISTENING (\S+)")


# --- codex --------------------------------------------------------------------------------


def codex_home(runner: Runner, name: str, mock_url: str | None) -> Path:
    """A CODEX_HOME for codex: the mock provider when ``mock_url`` is given (tests/support/mock_responses.py)."""
    from tests.support.mock_responses import mock_provider_config

    home = runner.mkdir(name)
    if mock_url is not None:
        (home / "config.toml").write_text(mock_provider_config(mock_url))
    return home


def real_codex_binary(codex_bin: str) -> str:
    """The native binary behind npm's node wrapper, when we can find it (one process less)."""
    wrapper = Path(codex_bin).resolve()
    for vendor in wrapper.parent.parent.glob("@openai/codex-linux-*/vendor/*/bin/codex"):
        return str(vendor)
    for vendor in wrapper.parent.parent.parent.glob("codex-linux-*/vendor/*/bin/codex"):
        return str(vendor)
    return codex_bin


async def start_codex(
    runner: Runner, codex_bin: str, *, mock_url: str | None = None, name: str = "codex"
) -> tuple[Launched, Endpoint]:
    """``codex app-server --listen unix://SOCK`` with its own CODEX_HOME."""
    home = codex_home(runner, f"{name}-home", mock_url)
    sock = runner.path(f"{name}.sock")
    env = dict(os.environ, CODEX_HOME=str(home), MOCK_API_KEY="bench", RUST_LOG="error")
    proc = await runner.start(
        name, [real_codex_binary(codex_bin), "app-server", "--listen", f"unix://{sock}"], env=env
    )
    await _ready(proc, "codex app-server", check=lambda: unix_socket_accepts(sock))
    return proc, Endpoint("unix", str(sock))


# --- the gateway --------------------------------------------------------------------------


async def start_gateway(
    runner: Runner,
    *,
    listen: str,
    backend: str,
    extra: list[str] | None = None,
    name: str = "gateway",
    profile: Path | None = None,
    wrap: list[str] | None = None,
) -> tuple[Launched, Endpoint]:
    """``python -m appserver serve --listen (unix://SOCK | ws://127.0.0.1:0) --backend B``,
    run under ``wrap`` (a command prefix, e.g. valgrind) if given."""
    home = runner.mkdir(f"{name}-home")
    if listen == "unix":
        sock = runner.path(f"{name}.sock")
        url = f"unix://{sock}"
    elif listen == "ws":
        url = "ws://127.0.0.1:0"
    else:
        raise ValueError(listen)
    argv = [*(wrap or []), sys.executable, "-m", "appserver", "serve", "--listen", url, "--backend", backend]
    proc = await runner.start(name, [*argv, *(extra or [])], env=python_env(CODEX_HOME=str(home)), cwd=ROOT)
    what = f"gateway (--listen {listen}:// --backend {backend.split('://')[0]})"
    if listen == "unix":
        await _ready(proc, what, line=r"listening on: (unix://\S+)")
        endpoint = Endpoint("unix", str(sock))
    else:
        endpoint = Endpoint("tcp", await _ready(proc, what, line=_TCP_BANNER))
    if profile is not None:
        await start_profiler(runner, proc, profile)
    return proc, endpoint


async def start_profiler(runner: Runner, target: Launched, output: Path) -> Launched:
    """py-spy sampling ``target`` until it exits or is stopped (SIGINT: it writes on the way out).

    The output is in py-spy's "raw" (collapsed stacks) format; ``python -m
    benchmarks.profile FILE`` summarises it.
    """
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(py_spy).exists():
        raise Unavailable("--profile needs py-spy (scripts/bench installs the `bench` extra)")
    output.parent.mkdir(parents=True, exist_ok=True)
    return await runner.start(
        "py-spy",
        [py_spy, "record", "--pid", str(target.pid), "--rate", "250", "--format", "raw",
         "--output", str(output), "--nonblocking"],
        stop_signal=signal.SIGINT,
    )


# --- reference servers --------------------------------------------------------------------


async def start_refserver(
    runner: Runner, mode: str, *args: str, unix: bool = False, wrap: list[str] | None = None
) -> tuple[Launched, Endpoint]:
    """``python -m benchmarks.refserver MODE`` on ws://127.0.0.1:0 (``bytes``: tcp://) or
    a Unix socket, run under ``wrap`` (a command prefix) if given."""
    sock = runner.path(f"ref-{mode}.sock")
    proc = await runner.start(
        f"ref-{mode}",
        [*(wrap or []), sys.executable, "-m", "benchmarks.refserver", mode, *args,
         *(["--unix", str(sock)] if unix else [])],
        env=python_env(),
        cwd=ROOT,
    )
    what = f"reference server ({mode})"
    if unix:
        await _ready(proc, what, check=lambda: unix_socket_accepts(sock))
        return proc, Endpoint("unix", str(sock))
    return proc, Endpoint("tcp", await _ready(proc, what, line=_TCP_BANNER))


async def start_socat(runner: Runner, upstream: Endpoint) -> tuple[Launched, Endpoint]:
    """``socat`` (C) relaying bytes from a new Unix socket to ``upstream``: the floor.

    Without ``fork``: socat serves one connection in the process started here, so its CPU
    is measured on that pid (the harness opens exactly one connection through it). Ready
    when it logs that it listens (a probe connection would use up its one accept).
    """
    socat = shutil.which("socat")
    if socat is None:
        raise Unavailable("socat is not installed (scripts/bench installs the socat package)")
    sock = runner.path("socat.sock")
    proc = await runner.start(
        "socat", [socat, "-d", "-d", f"UNIX-LISTEN:{sock}", f"UNIX-CONNECT:{upstream.address}"]
    )
    await _ready(proc, "socat relay", line=r"(listening) on")
    return proc, Endpoint("unix", str(sock))
