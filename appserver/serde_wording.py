"""serde's wording for JSON values, so our decode errors read like codex's. Sans-I/O."""

from __future__ import annotations

import json
from typing import Any


def unexpected(value: Any) -> str:
    """``serde::de::Unexpected``'s Display for a JSON value (``integer `5```, ``map``, …);
    strings are quoted as Rust's Debug prints them (printable Unicode kept as is)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean `{'true' if value else 'false'}`"
    if isinstance(value, int):
        return f"integer `{value}`"
    if isinstance(value, float):
        return f"floating point `{value}`"
    if isinstance(value, str):
        return f"string {json.dumps(value, ensure_ascii=False)}"
    if isinstance(value, list):
        return "sequence"
    return "map"
