"""``appserver serve``: one backend, one processor, every listener, signals and the banner.

Listeners are started first (each reports its banner lines once bound), then the banner is
printed to stderr, then the stdio connection (if any) is served. The process ends when
stdin closes (with stdio), or on SIGINT/SIGTERM: the first signal stops accepting, lets
the answers owed to in-flight requests arrive (at most ``SHUTDOWN_DRAIN_TIMEOUT``) and
closes every connection with 1001; a second signal exits at once.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Mapping
from contextlib import AsyncExitStack

import anyio
from anyio.abc import TaskStatus

from appserver import __version__, limits, strings
from appserver.backends.base import Backend
from appserver.backends.choice import create_backend
from appserver.close import CloseCode
from appserver.config import ListenKind, ServeConfig
from appserver.errors import BackendUnavailable, ConfigError, RuntimeFailure
from appserver.log import emit
from appserver.processor import Processor
from appserver.transports.listener import Listener, ListenerRunner

log = logging.getLogger("appserver.server")

#: Read (and removed) by codex app-server 0.169.0 at start: its remote control stays off.
REMOTE_CONTROL_DISABLED_ENV = "CODEX_INTERNAL_APP_SERVER_REMOTE_CONTROL_DISABLED"


def listener_runner(kind: ListenKind) -> ListenerRunner:
    """The runner for a listen URL kind; :class:`ConfigError` if not available."""
    if kind is ListenKind.UNIX:
        from appserver.transports.unix import run_unix_listener

        return run_unix_listener
    if kind in (ListenKind.WS, ListenKind.WSS):
        from appserver.transports.tcp import run_tcp_listener

        return run_tcp_listener
    raise ConfigError(strings.NO_LISTENER.format(kind=kind.value))


async def serve(config: ServeConfig, env: Mapping[str, str]) -> int:
    """Run the gateway; return the process exit status."""
    # The gateway answers remoteControl/* itself: a codex child's own remote control stays off.
    env = {**env, REMOTE_CONTROL_DISABLED_ENV: "1"}
    backend, why = create_backend(config.backend, env)
    processor = Processor(backend)
    async with AsyncExitStack() as stack:
        # The backend starts first (a codex child answers before any listener binds, so
        # we never hold the control-socket folder while codex takes its startup lock)
        # and stops last, after every connection drained.
        try:
            await stack.enter_async_context(backend.running())
        except BackendUnavailable as exc:
            raise RuntimeFailure(str(exc)) from None
        extra: list[Listener] = []
        if config.remote_control is not None:
            from appserver.remote_control.setup import running as remote_control

            remote = await stack.enter_async_context(
                remote_control(config.remote_control, processor, env)
            )
            if remote.banner:
                extra.append(Listener(banner=remote.banner))
        return await _serve(config, processor, why, extra)
    raise AssertionError("unreachable")


async def _serve(
    config: ServeConfig, processor: Processor, why: str, extra: list[Listener] | None = None
) -> int:
    stdio = any(listen.kind is ListenKind.STDIO for listen in config.listens)
    async with anyio.create_task_group() as tg:
        listeners: list[Listener] = list(extra or ())
        for listen in config.listens:
            if listen.kind is not ListenKind.STDIO:
                runner = listener_runner(listen.kind)
                listeners.append(await tg.start(runner, listen, processor, config))
        shutdown = _Shutdown(processor, listeners, tg.cancel_scope)
        # Signals are ours before the banner says we listen: a client (or a test) that
        # sends SIGTERM as soon as it reads the banner gets the clean shutdown.
        await tg.start(shutdown.watch_signals)
        await tg.start(_reload_on_sighup)
        _print_banner(processor.backend, why, listeners, stdio)
        if stdio:
            from appserver.transports.stdio import end_stdio_session, serve_stdio

            close = await serve_stdio(processor)
            if close.code == CloseCode.INTERNAL_ERROR:
                if listeners:
                    # Like codex, the stdio client's session is over; the others go on.
                    # It was answered -32603 for what it was owed; now its pipes close.
                    log.error("stdio client: %s; still serving the other listeners", close.reason)
                    end_stdio_session()
                    await anyio.sleep_forever()
                emit([f"Error: {close.reason}"], level="error")
                shutdown.exit_code = 1
            tg.cancel_scope.cancel()
        else:
            await anyio.sleep_forever()
    return shutdown.exit_code


async def _reload_on_sighup(*, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
    """SIGHUP re-reads token, secret and certificate files (appserver.reload)."""
    from appserver import reload

    with anyio.open_signal_receiver(signal.SIGHUP) as signals:
        task_status.started()
        async for _ in signals:
            reload.reload_all()


class _Shutdown:
    """First signal: drain, then close everything; second signal: exit now."""

    def __init__(
        self, processor: Processor, listeners: list[Listener], scope: anyio.CancelScope
    ) -> None:
        self.processor = processor
        self.listeners = listeners
        self.scope = scope
        self.exit_code = 0

    async def watch_signals(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            task_status.started()
            async for signum in signals:
                log.info("%s: draining (send it again to exit now)", signal.Signals(signum).name)
                break
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._drain, tg.cancel_scope)
                async for signum in signals:
                    log.warning("second %s: exiting now", signal.Signals(signum).name)
                    # Clients are told 1001 with nothing more flushed; the listeners'
                    # close (appserver.transports.websocket.close_server) bounds the rest.
                    for conn in self.processor.connections:
                        conn.close(
                            CloseCode.GOING_AWAY, strings.CLOSE_REASON_SHUTDOWN, flush=False
                        )
                    tg.cancel_scope.cancel()
        self.scope.cancel()

    async def _drain(self, done: anyio.CancelScope) -> None:
        for listener in self.listeners:
            listener.stop_accepting()
        with anyio.move_on_after(limits.SHUTDOWN_DRAIN_TIMEOUT):
            for conn in self.processor.connections:
                await conn.wait_drained()
        self.processor.close_all(CloseCode.GOING_AWAY, strings.CLOSE_REASON_SHUTDOWN)
        # Each close is bounded (limits.CLOSE_FLUSH_TIMEOUT, then the close handshake).
        with anyio.move_on_after(limits.CLOSE_FLUSH_TIMEOUT + limits.WEBSOCKET_CLOSE_TIMEOUT):
            await self.processor.wait_idle()
        done.cancel()


def _print_banner(backend: Backend, why: str, listeners: list[Listener], stdio: bool) -> None:
    lines = [f"appserver {__version__}: backend {backend.name} ({backend.description}; {why})"]
    for listener in listeners:
        lines.extend(listener.banner)
    if stdio:
        lines.extend(["appserver (stdio)", "  listening on: stdio://"])
    emit(lines)
