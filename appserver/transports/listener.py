"""What every listener runner looks like to ``appserver serve`` (appserver.server).

A runner binds its endpoint, reports a :class:`Listener` (its banner block and how to
stop accepting) through ``task_status.started``, then serves until cancelled, cleaning
up (e.g. removing its socket file) on the way out. Transports import this module, not
the server, so the server can import the transports without a cycle.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from anyio.abc import TaskStatus

from appserver.config import ListenUrl, ServeConfig
from appserver.processor import Processor


@dataclass
class Listener:
    """What a started listener reports: its banner block and how to stop accepting."""

    banner: list[str]
    stop_accepting: Callable[[], None] = field(default=lambda: None)


ListenerRunner = Callable[
    [ListenUrl, Processor, ServeConfig, TaskStatus[Listener]], Awaitable[None]
]
