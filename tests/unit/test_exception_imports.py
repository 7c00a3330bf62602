"""No module of the package imports another only for an exception class: an exception that
crosses layers lives in appserver/errors.py, so catching it never drags in the module that
raises it. Reads the source (ast), runs nothing.
"""

from __future__ import annotations

import ast
import builtins
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "appserver"
#: Where exceptions shared across layers live: importing only them from here is the point.
HOME = "appserver.errors"
#: (importer, imported) pairs allowed anyway, each with its why.
ALLOWED = {
    # store.py is the interface every store implements (RelayStore); the HTTP middleware
    # maps that interface's "engine unreachable" failure to 503.
    ("appserver.relay.http", "appserver.relay.store"),
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _trees() -> dict[str, tuple[Path, ast.Module]]:
    return {_module_name(p): (p, ast.parse(p.read_text())) for p in sorted(PACKAGE.rglob("*.py"))}


def _absolute(module: str, path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _exception_classes(trees: dict[str, tuple[Path, ast.Module]]) -> dict[str, set[str]]:
    """Per module, the names of the exception classes it defines (bases followed through
    the module's own classes, its imports from the package, and the builtins)."""
    classes: dict[str, dict[str, list[str]]] = defaultdict(dict)
    imported: dict[str, dict[str, tuple[str, str]]] = defaultdict(dict)
    for module, (path, tree) in trees.items():
        for node in tree.body:
            if isinstance(node, ast.ClassDef):
                classes[module][node.name] = [
                    b.id if isinstance(b, ast.Name) else b.attr for b in node.bases if isinstance(b, ast.Name | ast.Attribute)
                ]
            elif isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    imported[module][alias.asname or alias.name] = (_absolute(module, path, node), alias.name)

    def is_exception(module: str, name: str, seen: frozenset[tuple[str, str]] = frozenset()) -> bool:
        if (module, name) in seen:
            return False
        seen = seen | {(module, name)}
        if name in classes[module]:
            return any(is_exception(module, base, seen) for base in classes[module][name])
        if name in imported[module]:
            target, original = imported[module][name]
            return target in trees and is_exception(target, original, seen)
        value = getattr(builtins, name, None)
        return isinstance(value, type) and issubclass(value, BaseException)

    return {m: {c for c in classes[m] if is_exception(m, c)} for m in trees}


def test_no_module_imports_another_only_for_exceptions() -> None:
    trees = _trees()
    exceptions = _exception_classes(trees)
    offenders = []
    for module, (path, tree) in trees.items():
        names: dict[str, list[str]] = defaultdict(list)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                target = _absolute(module, path, node)
                names[target] += [alias.name for alias in node.names]
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    names[alias.name].append("*")
        for target, imported in names.items():
            if target == HOME or target not in trees or (module, target) in ALLOWED:
                continue
            if all(name in exceptions[target] for name in imported):
                offenders.append(f"{module} imports {target} only for {', '.join(imported)}")
    assert offenders == [], "move the exception to appserver/errors.py:\n" + "\n".join(offenders)


def test_the_check_sees_exception_classes() -> None:
    exceptions = _exception_classes(_trees())
    assert {"BackendUnavailable", "ConfigError", "QueueClosed"} <= exceptions[HOME]
    assert "StoreUnavailable" in exceptions["appserver.relay.store"]  # through StoreError
    assert "MessageQueue" not in exceptions["appserver.queues"]
