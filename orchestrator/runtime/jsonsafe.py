"""What a value must be for both databases to store it and every client to read it back: JSON at most
MAX_DEPTH levels deep, finite numbers, strings without NUL or lone surrogates (keys included), and
media types a Content-Type header can carry. The walks are loops, so no input can exhaust the stack.
"""

import math
import re
from typing import Any, NamedTuple

# Deep enough for any real config or report; far below what json, pydantic or PostgreSQL's jsonb choke on.
MAX_DEPTH = 64
_SURROGATE = re.compile("[\ud800-\udfff]")
_PLAIN = frozenset({int, bool, type(None)})  # JSON values that are always storable
# RFC 9110 8.3.1: type "/" subtype *( OWS ";" OWS parameter ), ASCII only so it fits a Latin-1 header.
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_QUOTED = r'"(?:[\t !#-\[\]-~]|\\[\t -~])*"'
MEDIA_TYPE = re.compile(rf"{_TOKEN}/{_TOKEN}(?:[ \t]*;[ \t]*{_TOKEN}=(?:{_TOKEN}|{_QUOTED}))*")


class Problem(NamedTuple):
    """Why a value cannot be stored, and where in it (keys and indexes from the top)."""

    code: str
    message: str
    location: list


def string_problem(text: str, location: list | None = None) -> Problem | None:
    if "\x00" in text:
        return Problem("NUL_CHARACTER", "NUL characters (\\u0000) are not allowed in any field.", location or [])
    if not text.isascii() and _SURROGATE.search(text):
        return Problem(
            "LONE_SURROGATE",
            "Strings must be valid Unicode: a lone surrogate (\\ud800-\\udfff) is not "
            "allowed; encode characters outside the BMP as a surrogate pair.",
            location or [],
        )
    return None


def json_problem(value: Any, max_depth: int = MAX_DEPTH) -> Problem | None:
    """The first reason `value` (as json.loads returns it) cannot be stored, or None.

    Only containers go on the stack, each with a link to its parent, so a body of a million numbers
    costs a type check per number and the path is built only for the error."""
    problem = _leaf_problem(value, None)
    stack: list[tuple[Any, int, tuple | None]] = [(value, 1, None)] if isinstance(value, (dict, list)) else []
    while stack and problem is None:
        item, depth, node = stack.pop()
        if depth > max_depth:
            return Problem(
                "JSON_TOO_DEEP", f"JSON may nest at most {max_depth} levels of objects and arrays.", _path(node)[:8]
            )
        pairs = (
            item.items()
            if isinstance(item, dict)
            else [(i, c) for i, c in enumerate(item) if c.__class__ not in _PLAIN]
        )
        for key, child in pairs:
            if isinstance(child, (dict, list)):
                stack.append((child, depth + 1, (node, key)))
            elif isinstance(child, (str, float)) or isinstance(key, str):
                problem = _leaf_problem(key, node) or _leaf_problem(child, (node, key))
                if problem:
                    break
    return problem


def _leaf_problem(value: Any, node: tuple | None) -> Problem | None:
    if isinstance(value, str):
        problem = string_problem(value)
        return problem._replace(location=_path(node)) if problem else None
    if isinstance(value, float) and not math.isfinite(value):
        return Problem(
            "NON_FINITE_NUMBER",
            "Numbers must be finite: NaN, Infinity and values beyond the range "
            "of a double (like 1e400) are not allowed.",
            _path(node),
        )
    return None


def _path(node: tuple | None) -> list:
    """The keys and indexes from the top down to `node`, readable in an error reply whose own keys may hold
    the very characters being refused."""
    path = []
    while node is not None:
        node, key = node
        path.append(key.encode("utf-8", "backslashreplace").decode() if isinstance(key, str) else key)
    return path[::-1]


def too_deep() -> Problem:
    """For documents nested so deeply that the parser itself gave up."""
    return Problem("JSON_TOO_DEEP", f"JSON may nest at most {MAX_DEPTH} levels of objects and arrays.", [])
