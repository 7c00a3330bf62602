"""The codex backends: a supervised ``codex app-server`` child, or an existing socket.

:class:`CodexBackend` (``--backend codex``, and ``auto`` when codex is installed) runs
``codex app-server --listen unix://<state folder>/codex-<pid>.sock`` as a child,
waits until that socket answers, and opens one :class:`UpstreamSession` per client
connection. A supervisor watches the child: if it exits or stops answering, every open
session fails (clients are told why: socket clients are closed 1011, owed stdio requests
get an error), ``ready`` turns false, and the child is started again with backoff.

:class:`SocketBackend` (``--backend unix://PATH``) attaches to an app-server control
socket someone else runs (the codex daemon, another gateway): the same sessions, no child.

docs/codex-backend.md describes both for users.
"""

from __future__ import annotations

import logging
import os
import random
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
from anyio.abc import TaskGroup, TaskStatus

from appserver import limits, strings
from appserver.backends.base import Peer
from appserver.backends.codex.child import CodexChild, child_command, describe_status
from appserver.backends.codex.pacing import Backoff, RestartPacer
from appserver.backends.codex.upstream import (
    SessionRegistry,
    UpstreamSession,
    health_checks,
    probe,
)
from appserver.client_state import Rejection
from appserver.errors import BackendUnavailable
from appserver.private_files import make_private_dirs

log = logging.getLogger("appserver.codex")

#: The gateway's state folder under CODEX_HOME (0700); it holds the child's socket link.
STATE_DIR = "appserver"


def upstream_retry_policy(rng: random.Random | None = None) -> Backoff:
    return Backoff(
        limits.UPSTREAM_RETRY_BASE,
        limits.UPSTREAM_RETRY_CAP,
        limits.UPSTREAM_RETRY_ATTEMPTS,
        rng or random.Random(),
    )


class _UpstreamBackend:
    """What both codex backends share: per-connection upstream sessions over a socket."""

    name = "codex"

    def __init__(self, socket: Path) -> None:
        self.socket = socket
        self.retry = upstream_retry_policy()
        self._sessions = SessionRegistry()
        self._tg: TaskGroup | None = None
        self._ready = False
        self._unavailable = strings.CODEX_STARTING

    @property
    def ready(self) -> bool:
        return self._ready

    def reject_method(self, method: str) -> Rejection | None:
        return None  # codex knows its methods and answers unknown ones itself

    async def open_session(self, peer: Peer) -> UpstreamSession:
        if not self._ready or self._tg is None:
            raise BackendUnavailable(self._unavailable)
        return await UpstreamSession.open(
            self.socket, peer, self.retry, self._explain_loss, self._sessions, self._tg
        )

    async def _explain_loss(self, detail: str) -> str:
        """Why an upstream session's socket closed: ``detail`` unless we know better."""
        return detail

    def _fail_sessions(self, reason: str) -> None:
        self._sessions.fail_all(reason)

    @property
    def upstream_overloads(self) -> int:
        """codex's own -32001 answers passed on to clients once retries ran out (metrics)."""
        return self._sessions.overloads_passed

    @property
    def upstream_retries(self) -> int:
        """Requests sent again after codex answered -32001, since start (for metrics)."""
        return self._sessions.retries


class CodexBackend(_UpstreamBackend):
    """A managed ``codex app-server`` child behind every connection."""

    def __init__(
        self,
        codex_bin: str,
        codex_home: Path,
        overrides: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.state_dir = codex_home / STATE_DIR
        super().__init__(self.state_dir / f"codex-{os.getpid()}.sock")
        self.codex_bin = codex_bin
        self.overrides = tuple(overrides)
        self.env = dict(os.environ if env is None else env)
        self.command = child_command(codex_bin, self.socket, self.overrides)
        #: Times the child was started again after a failure (for metrics).
        self.restarts = 0
        self.child: CodexChild | None = None
        self._run_ended = anyio.Event()
        self._run_reason = ""
        self._stopping = False
        #: The last health probe of the running child was answered (see ``ready``).
        self._answering = True

    @property
    def ready(self) -> bool:
        """For ``/readyz`` and the ready gauge: a child runs and its last health probe was
        answered. One failed probe turns readiness off (a load balancer stops sending new
        clients at once); the restart still waits for CODEX_HEALTH_FAILURES in a row."""
        return self._ready and self._answering

    @property
    def description(self) -> str:
        return f"codex app-server child `{self.codex_bin}`"

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        self._prepare_state_dir()
        failure: BackendUnavailable | None = None
        async with anyio.create_task_group() as tg:
            self._tg = tg
            try:
                child = await self._launch()
            except BackendUnavailable as exc:
                failure = exc
            else:
                # Ready before the first client is served: published by _supervise before
                # it returns from start (a start_soon task may not have run yet when stdio
                # reads its first line).
                await tg.start(self._supervise, child)
                try:
                    yield
                finally:
                    # Connections have drained by now; the child is stopped last.
                    self._stopping = True
                    self._ready = False
                    self._unavailable = strings.CODEX_STOPPING
                    self._fail_sessions(strings.CODEX_STOPPING)
                    tg.cancel_scope.cancel()
        self._tg = None
        if failure is not None:
            raise BackendUnavailable(strings.CODEX_START_FAILED.format(reason=failure))

    def _prepare_state_dir(self) -> None:
        make_private_dirs(self.state_dir, tighten=True)
        # Links left by gateways that were killed: their codex is gone, so is the target.
        for link in self.state_dir.glob("codex-*.sock"):
            if link.is_symlink() and not link.exists():
                link.unlink(missing_ok=True)

    async def _launch(self) -> CodexChild:
        """Start a child and wait until its socket answers; :class:`BackendUnavailable` if not."""
        assert self._tg is not None
        try:
            child = await CodexChild.start(self.command, self.env, stop_grace=limits.CODEX_STOP_GRACE)
        except OSError as exc:
            raise BackendUnavailable(strings.CODEX_CANNOT_RUN.format(bin=self.codex_bin, err=exc)) from exc
        log.info("started codex app-server (guard pid %d): %s", child.pid, " ".join(self.command))
        self._tg.start_soon(child.run)
        try:
            await self._wait_ready(child)
        except BaseException:
            await child.stop()  # shielded: also when start-up is cancelled (Ctrl-C)
            raise
        return child

    async def _wait_ready(self, child: CodexChild) -> None:
        last_error = "no answer"
        with anyio.move_on_after(limits.CODEX_STARTUP_TIMEOUT):
            while True:
                if child.exited.is_set():
                    raise BackendUnavailable(
                        strings.CODEX_EXITED_AT_START.format(
                            status=describe_status(child.status)
                        )
                    )
                try:
                    await probe(self.socket)
                except BackendUnavailable as exc:
                    last_error = str(exc)
                else:
                    return
                with anyio.move_on_after(limits.CODEX_STARTUP_POLL):
                    await child.exited.wait()
        raise BackendUnavailable(
            strings.CODEX_SOCKET_SILENT.format(
                seconds=limits.CODEX_STARTUP_TIMEOUT, err=last_error
            )
        )

    async def _supervise(
        self, child: CodexChild, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        pacer = RestartPacer(
            Backoff(limits.CODEX_RESTART_BASE, limits.CODEX_RESTART_CAP),
            limits.CODEX_RESTART_HEALTHY_AFTER,
        )
        try:
            while True:
                self.child = child
                self._run_ended = anyio.Event()
                self._ready = True
                self._answering = True
                log.info("codex app-server is ready (guard pid %d)", child.pid)
                if task_status is not anyio.TASK_STATUS_IGNORED:
                    task_status.started()
                    task_status = anyio.TASK_STATUS_IGNORED
                started = anyio.current_time()
                reason = await self._watch(child)
                self._ready = False
                self._unavailable = strings.CODEX_RESTARTING
                self._run_reason = reason
                self._run_ended.set()
                self._fail_sessions(reason)
                await child.stop()
                delay = pacer.next_delay(anyio.current_time() - started)
                while True:
                    log.warning("%s; restarting it in %.1fs", reason, delay)
                    await anyio.sleep(delay)
                    try:
                        child = await self._launch()
                        break
                    except BackendUnavailable as exc:
                        reason = strings.CODEX_START_FAILED.format(reason=exc)
                        delay = pacer.next_delay(0.0)
                self.restarts += 1
        finally:
            if self.child is not None:
                await self.child.stop()  # shielded and bounded

    async def _watch(self, child: CodexChild) -> str:
        """Return why this run of the child is over: it exited, or stopped answering."""
        reason = ""
        async with anyio.create_task_group() as tg:

            async def exited() -> None:
                nonlocal reason
                await child.exited.wait()
                reason = reason or strings.CODEX_EXITED.format(status=describe_status(child.status))
                tg.cancel_scope.cancel()

            async def unresponsive() -> None:
                nonlocal reason
                async for failures, exc in health_checks(self.socket):
                    if exc is None and not self._answering:
                        log.info("codex app-server answers its health probe again")
                    self._answering = exc is None
                    if exc is not None:
                        log.warning("codex health probe failed (%d/%d): %s", failures,
                                    limits.CODEX_HEALTH_FAILURES, exc)
                    if failures >= limits.CODEX_HEALTH_FAILURES:
                        break
                if not child.exited.is_set():
                    reason = strings.CODEX_UNRESPONSIVE
                    tg.cancel_scope.cancel()

            tg.start_soon(exited)
            tg.start_soon(unresponsive)
        return reason

    async def _explain_loss(self, detail: str) -> str:
        # The session's socket usually closes a moment before we see the child exit: wait
        # for the supervisor's verdict so the client learns the real cause. If codex still
        # answers, it dropped only this session and there is no verdict to wait for.
        if self._stopping:
            return strings.CODEX_STOPPING
        ended = self._run_ended
        with anyio.move_on_after(limits.CODEX_LOSS_VERDICT_WAIT):
            await ended.wait()
        if not ended.is_set():
            try:
                await probe(self.socket)
            except BackendUnavailable:
                with anyio.move_on_after(limits.CODEX_STOP_GRACE + limits.CODEX_GUARD_SLACK):
                    await ended.wait()
        return self._run_reason if ended.is_set() else detail

    def __repr__(self) -> str:
        return (
            f"<CodexBackend {self.codex_bin} ready={self._ready} restarts={self.restarts} "
            f"sessions={len(self._sessions)}>"
        )


class SocketBackend(_UpstreamBackend):
    """An app-server control socket run by someone else (``--backend unix://PATH``)."""

    def __init__(self, socket: Path) -> None:
        super().__init__(socket)
        self._unavailable = strings.UPSTREAM_UNREACHABLE.format(path=socket, err="not answering")
        #: Always 0: nothing to restart (kept so metrics read the same for both).
        self.restarts = 0

    @property
    def description(self) -> str:
        return f"app-server at unix://{self.socket}"

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        await probe(self.socket)  # unreachable at start-up: the gateway exits 1
        async with anyio.create_task_group() as tg:
            self._tg = tg
            self._ready = True
            tg.start_soon(self._health)
            try:
                yield
            finally:
                self._ready = False
                tg.cancel_scope.cancel()
        self._tg = None

    async def _health(self) -> None:
        """Readiness follows the socket: probed every CODEX_HEALTH_INTERVAL seconds."""
        async for failures, exc in health_checks(self.socket):
            if exc is None:
                if not self._ready:
                    log.info("app-server at %s answers again", self.socket)
                self._ready = True
            elif failures >= limits.CODEX_HEALTH_FAILURES and self._ready:
                log.warning("app-server at %s is not answering: %s", self.socket, exc)
                self._ready = False

    def __repr__(self) -> str:
        return f"<SocketBackend {self.socket} ready={self._ready} sessions={len(self._sessions)}>"
