"""The whole remote-control stack as users run it, as processes: ``appserver relay serve``
(with an account made by ``appserver relay account add``) and a gateway host
(``appserver serve --backend builtin --listen unix://SOCK --remote-control URL
--remote-control-token-file F``), for the controllers' end-to-end tests.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio
from anyio.abc import TaskStatus

from tests.support.launcher import APPSERVER, Launched, appserver_env, launch, run
from tests.support import deadlines

RELAY_BANNER = re.compile(r"listening on (http://127\.0\.0\.1:\d+/)")


class RelayRunner:
    """``appserver relay serve`` in a task of its own, so that it can be restarted on the
    same port with the same state (each launch is entered and left in that one task)."""

    def __init__(self, state: Path, workdir: Path) -> None:
        self.state = state
        self.workdir = workdir
        self.port = 0
        self.url = ""
        self.process: Launched | None = None
        self._restart = anyio.Event()
        self._running = anyio.Event()
        self._stop = False

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        started = False
        while not self._stop:
            async with relay_process(self.state, self.workdir, self.port) as (process, url):
                self.process, self.url = process, url
                self.port = int(url.rsplit(":", 1)[1].strip("/"))
                self._running.set()
                if not started:
                    started = True
                    task_status.started()
                await self._restart.wait()
                self._restart = anyio.Event()

    async def restart(self) -> None:
        """Stop the relay (SIGTERM: it closes its sockets with 1001) and start it again."""
        self._running = anyio.Event()
        self._restart.set()
        await self._running.wait()

    def stop(self) -> None:
        self._stop = True
        self._restart.set()


@dataclass
class Stack:
    """Where things are: the relay's URL, its state file, the host's control socket."""

    workdir: Path
    relay_url: str
    relay_state: Path
    token_file: Path
    socket: Path
    relays: RelayRunner
    host: Launched

    async def restart_relay(self) -> None:
        await self.relays.restart()
        assert self.relays.url == self.relay_url

    def env(self, **extra: str) -> dict[str, str]:
        """An environment for controller commands (their own config folder)."""
        home = self.workdir / "controller-home"
        home.mkdir(exist_ok=True)
        return appserver_env(home, APPSERVER_CONFIG_DIR=str(self.workdir / "controller-config"), **extra)


@asynccontextmanager
async def relay_process(state: Path, workdir: Path, port: int = 0) -> AsyncIterator[tuple[Launched, str]]:
    argv = [*APPSERVER, "relay", "serve", "--listen", f"http://127.0.0.1:{port}", "--state", str(state)]
    async with launch(argv, env=appserver_env(workdir / "relay-home")) as relay:
        url = (await relay.line_matching(RELAY_BANNER)).group(1)
        yield relay, url


@asynccontextmanager
async def remote_stack(workdir: Path, socket_dir: Path) -> AsyncIterator[Stack]:
    """A relay with account ``alice``, and a built-in-backend host enrolled with it."""
    state = workdir / "relay.sqlite3"
    token_file = workdir / "alice.token"
    (workdir / "relay-home").mkdir(exist_ok=True)
    added = await run(
        [*APPSERVER, "relay", "account", "add", "alice", "--out", str(token_file), "--state", str(state)],
        env=appserver_env(workdir / "relay-home"),
    )
    assert added.returncode == 0, added.stderr
    host_home = workdir / "host-home"
    host_home.mkdir()
    sock = socket_dir / "host.sock"
    relays = RelayRunner(state, workdir)
    async with anyio.create_task_group() as tg:
        await tg.start(relays.run)
        argv = [
            *APPSERVER, "serve", "--backend", "builtin", "--listen", f"unix://{sock}",
            "--remote-control", relays.url, "--remote-control-token-file", str(token_file),
        ]  # fmt: skip
        try:
            async with launch(argv, env=appserver_env(host_home)) as host:
                await host.line_matching(r"listening on: unix://")
                yield Stack(workdir, relays.url, state, token_file, sock, relays, host)
        finally:
            relays.stop()


async def stdout_until(proc: Launched, marker: str) -> str:
    """What ``proc`` printed on stdout, up to and including ``marker``."""
    assert proc.process.stdout is not None
    seen = b""
    with anyio.fail_after(deadlines.PROCESS):  # a deadline against hangs, not a timing assertion
        while marker.encode() not in seen:
            seen += await proc.process.stdout.receive()
    return seen.decode()


async def rest_of_stdout(proc: Launched) -> str:
    assert proc.process.stdout is not None
    rest = b""
    with anyio.fail_after(deadlines.PROCESS):
        try:
            while True:
                rest += await proc.process.stdout.receive()
        except anyio.EndOfStream:
            pass
    return rest.decode()


async def pair_cli(stack: Stack, name: str) -> str:
    """Pair `appserver remote` as NAME through `appserver pair`; the device's client id."""
    async with launch([*APPSERVER, "pair", "--sock", str(stack.socket)], env=stack.env(), stdout=True) as pair:
        out = await stdout_until(pair, "Waiting for a device")
        link = re.search(r"^  (http\S+#pair=\S+)$", out, re.M)
        assert link is not None, out
        claimed = await run([*APPSERVER, "remote", "pair", link.group(1), "--name", name], env=stack.env())
        assert claimed.returncode == 0, claimed.stderr
        assert await pair.wait() == 0
        assert f"paired: {name}" in await rest_of_stdout(pair)
    saved = json.loads((stack.workdir / "controller-config" / "remote" / f"{name}.json").read_text())
    return saved["client_id"]
