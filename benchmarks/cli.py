"""``python -m benchmarks [--quick] [--json PATH] [SCENARIO...]`` (scripts/bench runs it).

Runs the scenarios one after another, each with its own processes and temp folder, prints
a table to stdout and writes the records as a JSON list. Ctrl-C (or SIGTERM) stops the run:
every process it started is stopped and its temp folders removed, and the records measured
so far are still written.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from benchmarks import machine
from benchmarks.procs import Runner
from benchmarks.records import Results, format_table
from benchmarks.scenarios import SIZES, Context, Scenario, all_scenarios
from benchmarks.services import ROOT, Unavailable

DEFAULT_JSON = ROOT / "bench-results" / "latest.json"


def parse_args(argv: list[str]) -> argparse.Namespace:
    names = [s.name for s in all_scenarios()]
    parser = argparse.ArgumentParser(
        prog="scripts/bench",
        description="Benchmark the gateway side by side with the real codex app-server.",
        epilog="scenarios: " + ", ".join(names),
    )
    parser.add_argument("scenarios", nargs="*", metavar="SCENARIO", help="default: all")
    parser.add_argument("--quick", action="store_true", help="smaller sizes (under 3 minutes)")
    parser.add_argument("--size", choices=sorted(SIZES), help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, metavar="PATH",
                        help=f"where to write the records (default: {DEFAULT_JSON.relative_to(ROOT)})")
    parser.add_argument("--codex-bin", default=os.environ.get("APPSERVER_BENCH_CODEX_BIN"),
                        metavar="PATH", help="the pinned codex (default: $APPSERVER_BENCH_CODEX_BIN)")
    parser.add_argument("--keep-logs", type=Path, metavar="DIR",
                        help="copy every process's stdout/stderr here before cleaning up")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="sample every gateway with py-spy; collapsed stacks go to DIR")
    parser.add_argument("--tmp", type=Path, metavar="DIR", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    unknown = [name for name in args.scenarios if name not in names]
    if unknown:
        parser.error(f"unknown scenario {', '.join(unknown)}; choose from {', '.join(names)}")
    args.size = args.size or ("quick" if args.quick else "full")
    if args.codex_bin and not shutil.which(args.codex_bin):
        parser.error(f"--codex-bin {args.codex_bin}: not an executable")
    return args


def raise_fd_limit() -> int:
    """Soft RLIMIT_NOFILE up to the hard limit (children inherit it: the gateway needs it too)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft


async def run_scenario(scenario: Scenario, args: argparse.Namespace, root: Path) -> list[dict[str, Any]]:
    results = Results(scenario.name, scenario.metrics)
    runner = Runner(parent=root)
    ctx = Context(
        runner=runner,
        sizes=SIZES[args.size],
        codex_bin=args.codex_bin,
        scenario=scenario.name,
        profile_dir=args.profile,
    )
    started = time.monotonic()
    print(f"{scenario.name}: {scenario.summary}", file=sys.stderr, flush=True)
    try:
        await scenario.run(ctx, results)
    except Unavailable as exc:
        results.unavailable = str(exc)
        ctx.log(f"unavailable: {exc}")
    except (Exception, TimeoutError) as exc:  # a failed scenario must not stop the others
        results.unavailable = f"failed: {type(exc).__name__}: {exc}"[:300]
        ctx.log(results.unavailable)
        traceback.print_exc(file=sys.stderr)
    finally:
        await ctx.close_clients()
        keep = args.keep_logs / scenario.name if args.keep_logs else None
        await runner.aclose(keep_logs=keep)
    ctx.log(f"done in {time.monotonic() - started:.1f}s; load average {os.getloadavg()[0]:.2f}")
    return results.records()


async def run_all(args: argparse.Namespace, records: list[dict[str, Any]], root: Path) -> None:
    selected = [s for s in all_scenarios() if not args.scenarios or s.name in args.scenarios]
    for scenario in selected:
        records.extend(await run_scenario(scenario, args, root))


def _terminate(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--instructions"]:
        from benchmarks import instructions

        return instructions.main(argv[1:])
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    fds = raise_fd_limit()
    info = machine.describe(args.codex_bin)
    info["size"] = args.size
    info["rlimit_nofile"] = fds
    print(machine.summary(info), file=sys.stderr, flush=True)
    records: list[dict[str, Any]] = []
    root = Runner(parent=args.tmp)  # holds every scenario's folder; swept at the end
    status = 0
    try:
        asyncio.run(run_all(args, records, root.root))
    except KeyboardInterrupt:
        print("interrupted: stopping everything", file=sys.stderr, flush=True)
        status = 130
    finally:
        root.close()
    info["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    for record in records:
        record["machine"] = info
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(records, indent=2) + "\n")
    print(f"\n{machine.summary(info)}\nsize: {args.size}\n")
    print(format_table(records))
    print(f"\nrecords written to {args.json}")
    return status
