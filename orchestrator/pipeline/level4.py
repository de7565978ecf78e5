"""Level 4 checks: may a moderately_sensitive file be released for viewing? job-runner's checks,
as a table: file type, size, CSV row count and no `patient_id` column. A failing file is withheld
(kept in the high-privacy workspace, never copied to level4/) with the reasons as text.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

from orchestrator.pipeline.patterns import LEVEL4_FILE_TYPES, file_suffix

MAX_FILE_SIZE = 16 * 1024 * 1024  # job-runner's LEVEL4_MAX_FILESIZE
MAX_CSV_ROWS = 5000  # job-runner's LEVEL4_MAX_CSV_ROWS
PATIENT_ID = "patient_id"


def _file_type(path: Path, relative: str) -> str | None:
    suffix = file_suffix(relative)
    if suffix in LEVEL4_FILE_TYPES:
        return None
    allowed = ", ".join(sorted(LEVEL4_FILE_TYPES))
    return f"{suffix or 'a file without an extension'} is not a Level 4 file type ({allowed})"


def _size(path: Path, relative: str) -> str | None:
    size = path.stat().st_size
    if size <= MAX_FILE_SIZE:
        return None
    return f"it is {size / 2**20:.1f} MB; the limit is {MAX_FILE_SIZE // 2**20} MB"


def _csv_rows(path: Path, relative: str) -> str | None:
    if file_suffix(relative) != ".csv":
        return None
    try:
        with open(path, newline="", encoding="utf-8", errors="replace") as file:
            rows = sum(1 for _ in csv.reader(file)) - 1  # the header is not a row of data
    except csv.Error as exc:  # e.g. a field over the csv module's size limit: unreadable is unreviewable
        return f"it cannot be read as CSV ({exc})"
    if rows <= MAX_CSV_ROWS:
        return None
    return f"it has {rows} rows; the limit is {MAX_CSV_ROWS}"


def _patient_id(path: Path, relative: str) -> str | None:
    if file_suffix(relative) != ".csv":
        return None
    try:
        with open(path, newline="", encoding="utf-8", errors="replace") as file:
            header = next(csv.reader(io.StringIO(file.readline())), [])
    except csv.Error:
        return None  # _csv_rows withholds the file already
    if any(column.strip().lower() == PATIENT_ID for column in header):
        return f"it has a {PATIENT_ID} column, which identifies patients"
    return None


Check = Callable[[Path, str], "str | None"]
FILE_CHECKS: tuple[Check, ...] = (_file_type, _size)
CONTENT_CHECKS: tuple[Check, ...] = (_csv_rows, _patient_id)  # read the file: skipped if too big


def level4_problems(path: Path, relative: str) -> list[str]:
    """Why the file at `path` (declared as `relative`) may not be released; [] if it may."""
    checks = FILE_CHECKS
    if path.stat().st_size <= MAX_FILE_SIZE:
        checks += CONTENT_CHECKS
    return [problem for check in checks if (problem := check(path, relative))]


def withheld_reason(relative: str, problems: list[str]) -> str:
    """The text of `<file>.txt`, written where the file would be."""
    lines = [
        f"{relative} was withheld by the Level 4 checks and is not available to view:",
        *(f"  - {problem}" for problem in problems),
        "It is still in the high-privacy workspace. Change the action so that its moderately_sensitive",
        "outputs are aggregated (no patient_id, at most 5000 rows, at most 16 MB, an allowed file type),",
        "or declare the file highly_sensitive.",
    ]
    return "\n".join(lines)
