"""Summarise a py-spy "raw" profile: where the gateway's time goes.

    python -m benchmarks.profile FILE [--top N] [--match SUBSTRING]

Prints the functions with the most samples on-CPU at the top of the stack (self) and
anywhere on the stack (inclusive), as shares of all samples.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path


def load(path: Path) -> list[tuple[list[str], int]]:
    stacks = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks.append((stack.split(";"), int(count)))
    return stacks


def _short(frame: str) -> str:
    # py-spy frames look like "function (path/to/module.py:123)"; drop the line number and
    # shorten the path to the package-relative part.
    name, _, where = frame.partition(" (")
    where = where.rstrip(")").rsplit(":", 1)[0]
    for anchor, keep in (("site-packages/", ""), ("/appserver/", "appserver/"), ("/lib/python3.", "py3.")):
        if anchor in where:
            where = keep + where.split(anchor, 1)[1]
            break
    return f"{name} ({where})"


def summarise(stacks: list[tuple[list[str], int]], top: int, match: str | None) -> str:
    total = sum(count for _, count in stacks) or 1
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for frames, count in stacks:
        names = [_short(f) for f in frames]
        own[names[-1]] += count
        for name in set(names):
            inclusive[name] += count
    out = [f"{total} samples"]
    for title, counter in (("self", own), ("inclusive", inclusive)):
        out.append(f"\n{title}:")
        shown = 0
        for name, count in counter.most_common():
            if match and match not in name:
                continue
            out.append(f"  {100 * count / total:5.1f}%  {name}")
            shown += 1
            if shown == top:
                break
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--match")
    args = parser.parse_args()
    try:
        stacks = load(args.file)
    except OSError as exc:
        parser.exit(2, f"Error: cannot read {args.file}: {exc.strerror or exc}\n")
    print(summarise(stacks, args.top, args.match))


if __name__ == "__main__":
    main()
