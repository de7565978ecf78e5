"""Changesheets (after NMDC's): surgical changes to stored metadata documents, as a TSV with the columns
`id`, `action`, `attribute`, `value`. An empty id repeats the row above's. Actions:

    update  set the attribute (a dotted path; digits index a list) to the value, making missing objects
    insert  append the value to the list at the attribute (made if missing)
    remove  with a value, remove it from the list at the attribute; without, remove the attribute

A value that reads as JSON is that (0.2, true, ["a"], "quoted text"); anything else is the text itself.
Parsing and applying are pure here; the store locks, checks the schema and writes."""

from __future__ import annotations

import copy
import csv
import io
import json
import re
from dataclasses import dataclass
from typing import Any

from orchestrator.runtime.jsonsafe import json_problem

COLUMNS = ("id", "action", "attribute", "value")
ACTIONS = ("insert", "remove", "update")
SEGMENT = re.compile(r"^(?:[A-Za-z_][A-Za-z0-9_]*|\d+)$")
MAX_PROBLEMS = 200
MAX_ROWS = 100_000


@dataclass(frozen=True)
class Row:
    line: int  # in the TSV, counting the header as 1
    id: str
    action: str
    path: tuple[str, ...]
    value: Any
    has_value: bool


class Problems(list):
    """Problems as {line, id?, message}; at most MAX_PROBLEMS are kept, the count is not capped."""

    def __init__(self):
        super().__init__()
        self.count = 0

    def add(self, line: int | None, message: str, document_id: str | None = None) -> None:
        self.count += 1
        if len(self) < MAX_PROBLEMS:
            self.append({"line": line, **({"id": document_id} if document_id else {}), "message": message})


def parse(text: str, problems: Problems) -> list[Row]:
    reader = csv.reader(io.StringIO(text), delimiter="\t", quoting=csv.QUOTE_NONE)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        problems.add(1, f"not a TSV: {exc}")
        return []
    if header is None or tuple(h.strip().lower() for h in header) != COLUMNS:
        problems.add(1, f"the first line must name the columns {', '.join(COLUMNS)} (tab-separated)")
        return []
    try:
        return _rows(reader, problems)
    except csv.Error as exc:  # a field past csv's size limit, a stray carriage return
        problems.add(reader.line_num, f"not a TSV row: {exc}")
        return []


def _rows(reader, problems: Problems) -> list[Row]:
    rows, previous_id = [], ""
    for line, fields in enumerate(reader, start=2):
        if not any(field.strip() for field in fields):
            continue
        if len(rows) >= MAX_ROWS:
            problems.add(line, f"more than {MAX_ROWS} rows: split the changesheet")
            break
        if len(fields) not in (3, 4):
            problems.add(line, f"{len(fields)} columns; a row has {len(COLUMNS)} (value may be empty)")
            continue
        document_id, action, attribute, raw = [*map(str.strip, fields), ""][:4]
        document_id = document_id or previous_id
        previous_id = document_id
        row_problems = []
        if not document_id:
            row_problems.append("no id (and no row above to take it from)")
        if action not in ACTIONS:
            row_problems.append(f"action {action!r} is not one of {', '.join(ACTIONS)}")
        path = tuple(attribute.split(".")) if attribute else ()
        if not path or not all(SEGMENT.match(segment) for segment in path):
            row_problems.append(f"attribute {attribute!r} is no dotted path (names, or digits for a list position)")
        elif path[0] == "id":
            row_problems.append("a document's id cannot be changed")
        if not raw and action in ("insert", "update"):
            row_problems.append(f"{action} needs a value")
        for message in row_problems:
            problems.add(line, message, document_id or None)
        if not row_problems:
            rows.append(Row(line, document_id, action, path, _value(raw), bool(raw)))
    return rows


def _value(raw: str) -> Any:
    """JSON when it reads as JSON the store can keep (finite numbers, no NUL, not absurdly deep), else the text."""
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        return raw
    return raw if json_problem(value) else value


def apply_rows(document: dict, rows: list[Row], problems: Problems) -> dict:
    """A changed copy of `document`; each row that cannot apply is a problem (the others still apply, so
    every problem is found at once)."""
    changed = copy.deepcopy(document)
    for row in rows:
        try:
            _apply(changed, row)
        except _CannotApply as exc:
            problems.add(row.line, f"{row.action} {'.'.join(row.path)}: {exc}", row.id)
    return changed


class _CannotApply(Exception):
    pass


def _apply(document: dict, row: Row) -> None:
    parent = _walk(document, row.path[:-1], make=row.action != "remove")
    last = row.path[-1]
    if row.action == "update":
        _set(parent, last, row.value)
        return
    current = _get(parent, last)
    if row.action == "insert":
        if current is _MISSING:
            _set(parent, last, [row.value])
        elif isinstance(current, list):
            current.append(row.value)
        else:
            raise _CannotApply(f"is a {type(current).__name__}, not a list to insert into")
        return
    if current is _MISSING:  # remove
        raise _CannotApply("there is no such attribute")
    if not row.has_value:
        if isinstance(parent, list):
            del parent[int(last)]
        else:
            del parent[last]
    elif not isinstance(current, list):
        raise _CannotApply(f"is a {type(current).__name__}, not a list to remove {row.value!r} from")
    elif row.value not in current:
        raise _CannotApply(f"{row.value!r} is not in the list")
    else:
        current.remove(row.value)


_MISSING = object()


def _get(container, key: str):
    if isinstance(container, dict):
        return container.get(key, _MISSING)
    if isinstance(container, list) and key.isdigit():
        return container[int(key)] if int(key) < len(container) else _MISSING
    raise _CannotApply(f"{key!r} cannot be looked up in a {type(container).__name__}")


def _set(container, key: str, value) -> None:
    if isinstance(container, dict) and not key.isdigit():
        container[key] = value
    elif isinstance(container, list) and key.isdigit() and int(key) < len(container):
        container[int(key)] = value
    else:
        raise _CannotApply(f"{key!r} cannot be set in a {type(container).__name__} of {_size(container)}")


def _walk(document: dict, path: tuple[str, ...], make: bool):
    node = document
    for key in path:
        child = _get(node, key)
        if child is _MISSING:
            if not make or not isinstance(node, dict) or key.isdigit():
                raise _CannotApply(f"there is no {key!r} on the way")
            child = node[key] = {}
        if not isinstance(child, dict | list):
            raise _CannotApply(f"{key!r} is a {type(child).__name__}, not an object or list")
        node = child
    return node


def _size(container) -> str:
    return f"{len(container)} item(s)" if isinstance(container, list | dict) else "a value"
