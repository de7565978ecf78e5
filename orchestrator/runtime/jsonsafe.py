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
        return Problem("LONE_SURROGATE", "Strings must be valid Unicode: a lone surrogate (\\ud800-\\udfff) is not "
                        "allowed; encode characters outside the BMP as a surrogate pair.", location or [])
    return None


def json_problem(value: Any, max_depth: int = MAX_DEPTH) -> Problem | None:
    """The first reason `value` (as json.loads returns it) cannot be stored, or None."""
    stack: list[tuple[Any, int, tuple]] = [(value, 1, ())]
    while stack:
        item, depth, path = stack.pop()
        if isinstance(item, str):
            problem = string_problem(item, _readable(path))
            if problem:
                return problem
        elif isinstance(item, float) and not math.isfinite(item):
            return Problem("NON_FINITE_NUMBER", "Numbers must be finite: NaN, Infinity and values beyond the range "
                            "of a double (like 1e400) are not allowed.", _readable(path))
        elif isinstance(item, (dict, list)):
            if depth > max_depth:
                return Problem("JSON_TOO_DEEP", f"JSON may nest at most {max_depth} levels of objects and arrays.",
                                _readable(path[:8]))
            pairs = item.items() if isinstance(item, dict) else enumerate(item)
            for key, child in pairs:
                if isinstance(key, str):
                    stack.append((key, depth, (*path, key)))
                stack.append((child, depth + 1, (*path, key)))
    return None


def _readable(path: tuple) -> list:
    """The path for an error reply, whose own keys may hold the very characters being refused."""
    return [part.encode("utf-8", "backslashreplace").decode() if isinstance(part, str) else part for part in path]


def too_deep() -> Problem:
    """For documents nested so deeply that the parser itself gave up."""
    return Problem("JSON_TOO_DEEP", f"JSON may nest at most {MAX_DEPTH} levels of objects and arrays.", [])
