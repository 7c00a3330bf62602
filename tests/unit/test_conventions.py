"""The conventions of the core modules, checked: every bound in appserver/limits.py, every
user-visible message in appserver/strings.py.

Reads the source (ast), runs nothing. A failure names the file and line of a new literal:
give it a name in limits.py or strings.py (with a comment saying why) and use the name.
Every module of the package is checked.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "appserver"
HOMES = {"limits.py", "strings.py"}
NOT_CHECKED: set[str] = set()  # a module or folder left out needs a one-line why here

#: Exceptions whose message is shown to a user or client (an ``Error:`` line, a close
#: reason, a JSON-RPC error): the message must come from strings.py.
USER_VISIBLE_ERRORS = {
    "ConfigError", "RuntimeFailure", "ConnectFailed", "CallFailed", "BackendUnavailable",
    "SocketPathError", "WriteFailed", "AuthError", "StoreError", "StoreUnavailable",
}  # fmt: skip
#: Calls whose first argument is a duration or a size.
BOUNDED_CALLS = {"fail_after", "move_on_after", "sleep", "wait_for", "settimeout", "read", "recv"}
#: Keyword arguments (and option-dict keys) that are bounds.
BOUND_NAMES = {
    "timeout", "max_size", "max_queue", "limit", "open_timeout", "close_timeout",
    "ping_interval", "ping_timeout", "max_bytes", "max_items",
}  # fmt: skip


def _checked_modules() -> list[Path]:
    modules = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel in HOMES or rel in NOT_CHECKED or rel.split("/")[0] in NOT_CHECKED:
            continue
        modules.append(path)
    return modules


def _literal(node: ast.AST) -> bool:
    if isinstance(node, ast.BinOp):
        return _literal(node.left) and _literal(node.right)
    return isinstance(node, ast.Constant) and type(node.value) in (int, float)


def _number(node: ast.AST, smallest: int = 2) -> bool:
    """A literal number, or arithmetic on literal numbers (``1 << 20``), of at least
    ``smallest`` (0 and 1 are not bounds: empty, one)."""
    if not _literal(node):
        return False
    value = eval(compile(ast.Expression(node), "<literal>", "eval"))  # literals only
    return abs(value) >= smallest


def _text(node: ast.AST) -> bool:
    if isinstance(node, ast.JoinedStr):
        return True
    return isinstance(node, ast.Constant) and isinstance(node.value, str) and bool(node.value)


def violations(source: str, name: str) -> list[str]:
    """Literal bounds and user-visible messages in ``source`` (named ``name`` in reports)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        where = f"{name}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            first = node.args[0] if node.args else None
            if called in USER_VISIBLE_ERRORS and first is not None and _text(first):
                found.append(f"{where}: message literal in {called}(); put it in strings.py")
            if called in BOUNDED_CALLS and first is not None and _number(first):
                found.append(f"{where}: literal bound in {called}(); name it in limits.py")
            for keyword in node.keywords:
                if keyword.arg in BOUND_NAMES and _number(keyword.value):
                    found.append(f"{where}: literal {keyword.arg}=; name it in limits.py")
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                if isinstance(key, ast.Constant) and key.value in BOUND_NAMES and _number(value):
                    found.append(f"{where}: literal {key.value!r}; name it in limits.py")
        elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice):
            for bound in (node.slice.lower, node.slice.upper):
                # [:2] of (host, port) and the like are shapes, not truncations
                if bound is not None and _number(bound, smallest=3):
                    found.append(f"{where}: literal slice bound (a truncation?); name it in limits.py")
    return found


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('raise ConfigError("bad flag")', ["m:1: message literal in ConfigError(); put it in strings.py"]),
        ('raise RuntimeFailure(f"cannot {x}")', ["m:1: message literal in RuntimeFailure(); put it in strings.py"]),
        ("raise ConfigError(strings.X.format(x=1))", []),
        ("anyio.move_on_after(30)", ["m:1: literal bound in move_on_after(); name it in limits.py"]),
        ("reader.read(1 << 20)", ["m:1: literal bound in read(); name it in limits.py"]),
        ("anyio.sleep(limits.POLL)", []),
        ("connect(url, max_size=2**20)", ["m:1: literal max_size=; name it in limits.py"]),
        ('OPTIONS = {"max_queue": 64}', ["m:1: literal 'max_queue'; name it in limits.py"]),
        ("reason[:120]", ["m:1: literal slice bound (a truncation?); name it in limits.py"]),
        ("line[1:]", []),
    ],
)
def test_the_checker_finds_literals(source: str, expected: list[str]) -> None:
    assert violations(source, "m") == expected


def test_core_modules_keep_bounds_in_limits_and_messages_in_strings() -> None:
    modules = _checked_modules()
    assert len(modules) > 40  # the walk found the package
    found = [v for path in modules for v in violations(path.read_text(), str(path.relative_to(PACKAGE)))]
    assert found == []
