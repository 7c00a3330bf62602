"""Reading request params the way upstream's serde deserializer judges them. Sans-I/O.

Upstream answers bad params with ``-32600 Invalid request: <serde message>``
(observed with codex 0.169.0): ``missing field `threadId```, ``invalid type: integer `1`,
expected a string``; params missing altogether for a method that takes an object give
``missing field `params```. Unknown extra fields are ignored. Thread ids are UUIDs and a
malformed one is ``invalid thread id: …`` in the words of the Rust ``uuid`` crate.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from appserver import jsonrpc, strings
from appserver.errors import RpcError
from appserver.serde_wording import unexpected


def invalid_request(detail: str) -> RpcError:
    """``-32600 Invalid request: {detail}`` (serde's wording in ``detail``)."""
    return RpcError(jsonrpc.INVALID_REQUEST, strings.INVALID_REQUEST_PREFIX + detail)




def _type_error(value: Any, expected: str) -> RpcError:
    return invalid_request(
        strings.BUILTIN_INVALID_TYPE.format(unexpected=unexpected(value), expected=expected)
    )


def obj(params: Any, *, required: bool = True) -> dict[str, Any]:
    """The params object. ``required``: the method's params type is an object, not optional."""
    if params is None:
        if required:
            raise invalid_request(strings.BUILTIN_MISSING_FIELD.format(field="params"))
        return {}
    if not isinstance(params, dict):
        raise _type_error(params, "a map" if required else "struct params")
    return params


def _required(params: dict[str, Any], name: str) -> Any:
    if name not in params:
        raise invalid_request(strings.BUILTIN_MISSING_FIELD.format(field=name))
    return params[name]


def req_str(params: dict[str, Any], name: str) -> str:
    value = _required(params, name)
    if not isinstance(value, str):
        raise _type_error(value, "a string")
    return value


def opt_str(params: dict[str, Any], name: str) -> str | None:
    value = params.get(name)
    if value is not None and not isinstance(value, str):
        raise _type_error(value, "a string")
    return value


def opt_bool(params: dict[str, Any], name: str) -> bool | None:
    value = params.get(name)
    if value is not None and not isinstance(value, bool):
        raise _type_error(value, "a boolean")
    return value


def opt_uint(params: dict[str, Any], name: str) -> int | None:
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _type_error(value, "u32")
    return value


def req_list(params: dict[str, Any], name: str) -> list[Any]:
    value = _required(params, name)
    if not isinstance(value, list):
        raise _type_error(value, "a sequence")
    return value


_UUID_CHARS = re.compile(r"[0-9a-fA-F-]")
_UUID_HYPHENATED = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)


def thread_id(params: dict[str, Any], name: str = "threadId") -> str:
    """A required thread id: present, a string, and a UUID (``invalid thread id: …``)."""
    value = req_str(params, name)
    problem = uuid_problem(value)
    if problem is not None:
        raise RpcError(
            jsonrpc.INVALID_REQUEST, strings.BUILTIN_INVALID_THREAD_ID.format(reason=problem)
        )
    return str(uuid.UUID(value))  # canonical form: lower-case, hyphenated, no urn: prefix


def uuid_problem(text: str) -> str | None:
    """Why ``text`` is not a UUID, in the ``uuid`` crate's words; ``None`` if it is one."""
    body = text.removeprefix("urn:uuid:")
    for index, char in enumerate(body):
        if not _UUID_CHARS.fullmatch(char):
            offset = index + 1 + (len(text) - len(body))
            return (
                "invalid character: expected an optional prefix of `urn:uuid:` followed by "
                f"[0-9a-fA-F-], found `{char}` at {offset}"
            )
    if "-" not in body:
        if len(body) != 32:
            return f"invalid length: expected length 32 for simple format, found {len(body)}"
        return None
    if not _UUID_HYPHENATED.fullmatch(body):
        groups = body.split("-")
        if len(groups) != 5:
            return f"invalid group count: expected 5, found {len(groups)}"
        return "invalid group length: expected 8-4-4-4-12 hexadecimal digits"
    return None
