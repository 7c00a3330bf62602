"""Every `appserver ...` command in a shell example of the docs parses against the real CLI.

Code blocks marked ``sh``, ``bash`` or ``console`` in README.md and docs/*.md are read; a
command is an ``appserver`` invocation at a command position (start of a line after
continuations are joined, after ``|``, ``&&``, ``;``, ``&``, or inside ``$(...)``),
environment assignments in front of it skipped. Its arguments go through click's parser
for the command they name (unknown flags, bad choices, missing values and arguments fail),
without running anything.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

from appserver.cli import cli

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_BLOCK = re.compile(r"^```(?:sh|bash|console|shell)\s*$\n(.*?)^```", re.M | re.S)
_SUBSHELL = re.compile(r"\$\(([^()]*)\)")
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_OPERATORS = {"|", "||", "&&", ";", "&", "(", ")", ">", ">>", "<", "2>", "2>&1"}


def _commands(block: str) -> list[list[str]]:
    text = re.sub(r"\\\n", " ", block)
    out: list[list[str]] = []
    for line in text.splitlines():
        line = line.strip().removeprefix("$ ")
        pieces = [line] + _SUBSHELL.findall(line)
        for piece in pieces:
            piece = _SUBSHELL.sub("SUBSHELL", piece)
            lexer = shlex.shlex(piece, posix=True, punctuation_chars=True)
            lexer.whitespace_split = True
            lexer.commenters = "#"
            try:
                tokens = list(lexer)
            except ValueError:
                tokens = shlex.split(piece, comments=True)
            command: list[str] = []
            for token in [*tokens, ";"]:
                if token in _OPERATORS or token.startswith((">", "<")):
                    if token.startswith((">", "<")) and command and command[-1].isdigit():
                        command.pop()  # the fd of `2> file`
                    if command:
                        out.append(command)
                    command = []
                elif command or not _ASSIGNMENT.match(token):
                    command.append(token)
    return [command for command in out if command[0] == "appserver"]


def _examples() -> list[tuple[str, list[str]]]:
    found = []
    for doc in DOCS:
        for block in _BLOCK.findall(doc.read_text()):
            for command in _commands(block):
                found.append((f"{doc.relative_to(ROOT)}: {shlex.join(command)}", command[1:]))
    return found


EXAMPLES = _examples()


def _parse(args: list[str]) -> None:
    """Parse like `appserver ARGS` would, down to the leaf command; run nothing."""
    command: click.Command = cli
    ctx = command.make_context("appserver", list(args))
    while isinstance(command, click.Group):
        rest = [*getattr(ctx, "_protected_args", []), *ctx.args]
        if not rest:
            return
        name, sub, rest = command.resolve_command(ctx, rest)
        assert sub is not None, name
        ctx = sub.make_context(name or "", rest, parent=ctx)
        command = sub


def test_the_docs_have_examples_to_check() -> None:
    assert len(EXAMPLES) >= 30
    assert {args[0] for _, args in EXAMPLES if args} >= {"serve", "call", "proxy", "token"}


@pytest.mark.parametrize(("where", "args"), EXAMPLES, ids=[where for where, _ in EXAMPLES])
def test_example_parses(where: str, args: list[str]) -> None:
    try:
        _parse(args)
    except click.exceptions.Exit:
        pass  # --version, --help
    except click.UsageError as exc:
        pytest.fail(f"{where}\n  {exc.format_message()}")
