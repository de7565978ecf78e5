"""Rules for output patterns (`outputs.<level>.<name>: output/*.csv`), one table, first match wins.

They follow OpenSAFELY's `validate_glob_pattern`; ours is stricter in one way: a pattern that
could leave the workspace (`../x.csv`, `/tmp/x.csv`, `C:x.csv`) is an error, not just an odd path.
"""

from __future__ import annotations

import ntpath
import posixpath
from collections.abc import Callable
from pathlib import PurePosixPath

PRIVACY_LEVELS = ("highly_sensitive", "moderately_sensitive", "minimally_sensitive")
LEVEL4_LEVEL = "moderately_sensitive"

# OpenSAFELY's LEVEL4_FILE_TYPES (pipeline/constants.py): what may be released for review.
LEVEL4_FILE_TYPES = frozenset(
    {".csv", ".jpg", ".jpeg", ".png", ".svg", ".svgz", ".html", ".txt", ".log", ".json", ".md"}
)

# The directory job-runner writes its own logs and manifest to.
METADATA_DIR = "metadata"


def leaves_workspace(path: str) -> bool:
    """True if `path` is absolute, has a drive, or climbs out with `..`, on POSIX or Windows."""
    slashed = path.replace("\\", "/")
    return slashed.startswith("/") or bool(ntpath.splitdrive(path)[0]) or ".." in slashed.split("/")


def file_suffix(pattern: str) -> str:
    """What pathlib's `.suffix` gives (OpenSAFELY's test), without building a path object."""
    name = PurePosixPath(pattern).name if "/." in pattern or "//" in pattern else pattern.rstrip("/").rpartition("/")[2]
    dot = name.rfind(".")
    return name[dot:] if 0 < dot < len(name) - 1 else ""


def _bad_wildcard(pattern: str, level: str) -> bool:
    return any(token in pattern for token in ("**", "?", "["))


def _not_normalised(pattern: str, level: str) -> bool:
    return posixpath.normpath(pattern) != pattern


def _in_metadata(pattern: str, level: str) -> bool:
    return pattern == METADATA_DIR or pattern.startswith(METADATA_DIR + "/")


def _no_extension(pattern: str, level: str) -> bool:
    suffix = file_suffix(pattern)
    return suffix == "" or suffix.endswith("*")


def _not_level4_type(pattern: str, level: str) -> bool:
    return level == LEVEL4_LEVEL and file_suffix(pattern) not in LEVEL4_FILE_TYPES


PatternRule = tuple[str, Callable[[str, str], bool], str]

# (code, is the pattern broken?, message with {pattern}, {suffix} and {normal} filled in)
PATTERN_RULES: tuple[PatternRule, ...] = (
    ("PATTERN_EMPTY", lambda p, _: not p.strip(), "the output pattern is empty"),
    (
        "PATH_OUTSIDE_WORKSPACE",
        lambda p, _: leaves_workspace(p),
        "{pattern!r} points outside the workspace (absolute, a drive letter or '..'); "
        "use a path relative to the workspace such as output/table.csv",
    ),
    (
        "PATTERN_BACKSLASH",
        lambda p, _: "\\" in p,
        "{pattern!r} contains a backslash; use forward slashes",
    ),
    (
        "PATTERN_BAD_WILDCARD",
        _bad_wildcard,
        "{pattern!r} uses '**', '?' or '['; only the * wildcard is supported",
    ),
    (
        "PATTERN_NO_EXTENSION",
        _no_extension,
        "{pattern!r} has no file extension; output patterns must end in a file type such as .csv",
    ),
    (
        "BAD_LEVEL4_FILE_TYPE",
        _not_level4_type,
        "{pattern!r}: {suffix!r} files cannot be moderately_sensitive; allowed types are "
        + ", ".join(sorted(LEVEL4_FILE_TYPES))
        + " (declare other files highly_sensitive)",
    ),
    (
        "PATTERN_NOT_NORMALISED",
        _not_normalised,
        "{pattern!r} is not in normal form (double slash, './' or a trailing slash); write it as {normal!r}",
    ),
    (
        "PATTERN_IN_METADATA",
        _in_metadata,
        "{pattern!r} is inside metadata/, which is reserved for the orchestrator's logs",
    ),
)


def pattern_problem(pattern: str, level: str) -> tuple[str, str] | None:
    """The (code, message) of the first rule `pattern` breaks at `level`, or None if it is valid."""
    for code, is_broken, template in PATTERN_RULES:
        if is_broken(pattern, level):
            normal = posixpath.normpath(pattern)
            return code, template.format(pattern=pattern, suffix=file_suffix(pattern), normal=normal)
    return None
