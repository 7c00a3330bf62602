"""How long a test waits before it fails: deadlines against hangs on a loaded 2-core
machine, never timing assertions (a passing test is nowhere near them)."""

from __future__ import annotations

#: One local step: a message, an HTTP request, a socket operation, an in-process task.
STEP = 30.0
#: A process of ours to start, say something, answer a command or exit.
PROCESS = 60.0
#: Anything that waits on the real codex (its start-up, a turn, a benchmark's tiny run).
CODEX = 120.0
