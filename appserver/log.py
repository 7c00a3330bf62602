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


def setup_logging() -> None:
    level = os.environ.get("LOG_LEVEL", "INFO").upper()
    handler = logging.StreamHandler(sys.stderr)
    if os.environ.get("LOG_FORMAT") == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level if level in logging.getLevelNamesMapping() else "INFO")
    # websockets logs every failed handshake at INFO with a traceback; keep it quiet.
    logging.getLogger("websockets").setLevel(logging.WARNING)
