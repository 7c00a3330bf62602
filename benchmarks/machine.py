"""A description of the machine the numbers were measured on."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from typing import Any


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def codex_version(codex_bin: str | None) -> str | None:
    if not codex_bin:
        return None
    try:
        out = subprocess.run([codex_bin, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unknown ({exc})"
    return out.stdout.strip() or out.stderr.strip() or None


def describe(codex_bin: str | None) -> dict[str, Any]:
    import websockets

    from appserver import event_loop

    return {
        "cpu_cores": os.cpu_count(),
        "cpu_cores_usable": len(os.sched_getaffinity(0)),
        "cpu_model": _cpu_model(),
        "memory_gib": _memory_gib(),
        "os": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "websockets": websockets.__version__,
        "event_loop": event_loop.choose(os.environ),
        "codex": codex_version(codex_bin),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "argv": sys.argv[1:],
    }


def summary(machine: dict[str, Any]) -> str:
    return (
        f"machine: {machine['cpu_cores']} cores ({machine['cpu_model']}), "
        f"{machine['memory_gib']} GiB, {machine['os']}; {machine['python']}, "
        f"websockets {machine['websockets']}, event loop {machine.get('event_loop')}; "
        f"codex: {machine['codex'] or 'not found'}; "
        f"load average at start {machine['load_average_at_start']}"
        + (f", at end {machine['load_average_at_end']}" if "load_average_at_end" in machine else "")
    )
