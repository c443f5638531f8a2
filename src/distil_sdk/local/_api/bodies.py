"""Bounded reading of JSON request bodies: hostile JSON becomes a 422 that says what is wrong.

``json.loads`` trusts its input: JSON nested 100 000 deep raises ``RecursionError``, a
5000-digit integer raises ``ValueError`` and invalid UTF-8 raises ``UnicodeDecodeError``, which
FastAPI answers with a generic 400. `check_json_body` reads a body within the task readers'
limits (``types/_limits.LIMITS``: depth, digits per number) and refuses what it cannot read
with `UnreadableBody`, a 422 in the shape of every other invalid request:
``{"message": "invalid request: body: <what>", "errors": [{"loc": ["body"], ...}]}``.

`RequestGuard` (``limits.py``) runs the check on every JSON body a route reads;
the ``/models`` upload route, whose body is spooled to disk (`spool_body`), parses its body
with `parse_json_body`.

Example:
    >>> check_json_body(b'{"name": "m"}')
    {'name': 'm'}
    >>> try:
    ...     check_json_body(b"[" * 100 + b"]" * 100)
    ... except UnreadableBody as exc:
    ...     print(exc.status_code, exc.detail["message"])
    422 invalid request: body: JSON nested deeper than 64 levels; flatten it (no request of this API needs more than a few levels)
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from fastapi import HTTPException
from starlette.requests import Request

from ...types._limits import LIMITS, find_surrogate

__all__ = [
    "SPOOL_MEMORY_BYTES",
    "UnreadableBody",
    "check_json_body",
    "is_json",
    "parse_json_body",
    "spool_body",
]

#: How much of a spooled body stays in memory before it moves to a file in the data dir.
SPOOL_MEMORY_BYTES = 1 << 20


class UnreadableBody(HTTPException):
    """422 for a body that cannot be read as JSON; ``code`` names the problem.

    An ``HTTPException`` on purpose: raised from ``receive`` (see ``limits.py``), FastAPI
    re-raises it from its body reading instead of answering a generic 400.
    """

    def __init__(self, code: str, what: str, loc: tuple[str | int, ...] = ("body",)) -> None:
        self.code = code
        where = ".".join(str(part) for part in loc)
        super().__init__(
            422,
            {
                "message": f"invalid request: {where}: {what}",
                "errors": [{"loc": list(loc), "msg": what, "type": code}],
            },
        )


def is_json(content_type: str | None) -> bool:
    """Whether ``content_type`` is one FastAPI parses as JSON (``application/json``,
    ``application/*+json``, parameters ignored)."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def _check_digits(text: str, kind: str) -> None:
    digits = sum(c.isdigit() for c in text)
    if digits > LIMITS.max_number_digits:
        raise UnreadableBody(
            "json_number_too_large",
            f"{kind} with {digits} digits, more than the limit of {LIMITS.max_number_digits} "
            "digits; send it as a string or use a smaller number",
        )


def _parse_int(text: str) -> int:
    _check_digits(text, "an integer")
    return int(text)


def _parse_float(text: str) -> float:
    _check_digits(text, "a number")
    return float(text)


# The C scanner calls these hooks for each number: a huge one is refused before int() sees it.
_DECODER = json.JSONDecoder(parse_int=_parse_int, parse_float=_parse_float)


def _too_deep() -> UnreadableBody:
    return UnreadableBody(
        "json_too_deep",
        f"JSON nested deeper than {LIMITS.max_depth} levels; flatten it (no request of this "
        "API needs more than a few levels)",
    )


def _check_tree(value: Any) -> None:
    """Depth and lone surrogates of a parsed body, walked without recursion."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if find_surrogate(item) is not None:
                raise UnreadableBody(
                    "json_lone_surrogate",
                    "holds an escaped lone surrogate (\\ud800-\\udfff), which is no character "
                    "and cannot be stored; remove it or write the real character",
                )
        elif isinstance(item, dict | list):
            if depth >= LIMITS.max_depth:
                raise _too_deep()
            children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)


def check_json_body(data: bytes) -> Any:
    """The JSON value of ``data``, read within the limits.

    Raises:
        UnreadableBody: not UTF-8 (or the UTF-16/32 that ``json.loads`` detects), nested
            deeper than ``LIMITS.max_depth``, a number of more than
            ``LIMITS.max_number_digits`` digits, or an escaped lone surrogate.
        json.JSONDecodeError: not JSON at all (FastAPI answers that 422 itself).
    """
    try:
        text = data.decode(json.detect_encoding(data))
    except UnicodeDecodeError as exc:
        raise UnreadableBody(
            "utf8_invalid",
            f"not valid UTF-8 (an invalid byte at offset {exc.start}); send the body as UTF-8 "
            "encoded JSON",
        ) from None
    try:
        value = _DECODER.decode(text)
    except RecursionError:  # the scanner recursed once per level: far deeper than the limit
        raise _too_deep() from None
    _check_tree(value)
    return value


def parse_json_body(data: bytes) -> Any:
    """`check_json_body`, with text that is not JSON refused as FastAPI refuses it
    (422, ``json_invalid`` at the error's offset)."""
    try:
        return check_json_body(data)
    except json.JSONDecodeError as exc:
        raise UnreadableBody("json_invalid", "JSON decode error", ("body", exc.pos)) from None


async def spool_body(request: Request, directory: Path) -> tempfile.SpooledTemporaryFile[bytes]:
    """The request's body, streamed into a temporary file rewound to its start.

    The first `SPOOL_MEMORY_BYTES` stay in memory; a larger body moves to an anonymous file
    in ``directory`` (the private data dir, not a shared ``/tmp`` that may be memory-backed).
    The body limit is enforced while it streams (``RequestGuard``). The caller closes it.
    """
    # Returned open (no context manager): the caller reads it, then closes it.
    spool = tempfile.SpooledTemporaryFile(  # noqa: SIM115
        max_size=SPOOL_MEMORY_BYTES, mode="w+b", dir=str(directory)
    )
    try:
        async for chunk in request.stream():
            spool.write(chunk)
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    return spool
