"""Logging to stderr (stdout carries protocol traffic in stdio mode).

``LOG_LEVEL`` (default ``INFO``) sets the level; ``LOG_FORMAT=json`` gives one JSON object
per line. Secrets must never be passed to a logger: log digests or names instead.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
from collections.abc import Callable

from appserver import limits, strings

#: Terminal escape sequences (colours, cursor moves) in another program's output.
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def strip_ansi(text: str) -> str:
    """``text`` without terminal escape sequences: codex colours its stderr, and a log line
    (or a test matching a banner) wants the words only."""
    return _ANSI_ESCAPE.sub("", text)


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class RepeatLimiter(logging.Filter):
    """Bounds log volume that clients control (malformed frames, refused upgrades, failed
    accepts): per logger and message template, at most ``burst`` records per ``interval``
    seconds. Applies to WARNING and above, and to records logged with
    ``extra={"rate_limited": True}``. The first record let through after some were dropped
    says how many. Sans-I/O: the clock is injected.
    """

    def __init__(
        self,
        burst: int = limits.LOG_REPEAT_BURST,
        interval: float = limits.LOG_REPEAT_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.burst = burst
        self.interval = interval
        self.clock = clock
        # (logger, template) -> [window start, records let through, records dropped]
        self._windows: dict[tuple[str, str], list[float]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING and not getattr(record, "rate_limited", False):
            return True
        key = (record.name, str(record.msg))
        now = self.clock()
        window = self._windows.get(key)
        if window is None or now - window[0] >= self.interval:
            dropped = int(window[2]) if window is not None else 0
            if window is None and len(self._windows) >= limits.LOG_REPEAT_KEYS:
                self._windows.clear()  # templates are literals; this only bounds memory
            self._windows[key] = [now, 1, 0]
            if dropped:
                record.msg = f"{record.msg} " + _DROPPED.format(
                    count=dropped, interval=self.interval
                ).replace("%", "%%")
            return True
        if window[1] < self.burst:
            window[1] += 1
            return True
        window[2] += 1
        return False

    def __repr__(self) -> str:
        return f"<RepeatLimiter {self.burst} per {self.interval:g}s templates={len(self._windows)}>"


_DROPPED = "[{count} more like this were not logged in the last {interval:g}s]"


LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def json_logs() -> bool:
    return os.environ.get("LOG_FORMAT") == "json"


def emit(lines: list[str], *, level: str = "info", logger: str = "appserver") -> None:
    """Lines for an operator that are not log records (the banner, the final ``Error: ...``):
    as they are, or with LOG_FORMAT=json one JSON object per line like every log line."""
    if json_logs():
        now = time.time()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"
        text = "\n".join(
            json.dumps({"ts": stamp, "level": level, "logger": logger, "message": line}, ensure_ascii=False)
            for line in lines
        )
    else:
        text = "\n".join(lines)
    print(text, file=sys.stderr, flush=True)


def set_level(level: str) -> None:
    """Set the log level by name; :class:`ConfigError` for a name that is not one."""
    from appserver.errors import ConfigError

    name = level.strip().upper()
    if name not in LEVELS:
        raise ConfigError(strings.LOG_LEVEL_INVALID.format(level=level, levels=", ".join(LEVELS)))
    logging.getLogger().setLevel(name)


def setup_logging() -> None:
    """Handlers and format from the environment; the level from LOG_LEVEL (checked by
    :func:`set_level`, called by the command line with ``--log-level`` or LOG_LEVEL)."""
    handler = logging.StreamHandler(sys.stderr)
    if json_logs():
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RepeatLimiter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel("INFO")
    # websockets logs every failed handshake at INFO with a traceback; keep it quiet.
    logging.getLogger("websockets").setLevel(logging.WARNING)
