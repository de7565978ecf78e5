"""The JSON Schemas metadata is checked against, by name (`study-metadata`): a trigger's metadata-in
config names one, and the runtime checks a document a changesheet changed against the same. Each
describes a document set ({collection: [document, ...]}); one document is checked as a set of one."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator

SCHEMAS = Path(__file__).parent
MAX_ERRORS = 50


class UnknownSchema(ValueError):
    pass


def schema_names() -> list[str]:
    return sorted(path.stem for path in SCHEMAS.glob("*.json"))


@cache
def load_schema(name: str) -> dict:
    path = SCHEMAS / f"{name}.json"
    if not name or "/" in name or not path.is_file():
        raise UnknownSchema(f"No JSON Schema named {name!r}; known: {schema_names()}.")
    return json.loads(path.read_text())


_validators: dict[int, tuple[dict, Draft202012Validator]] = {}


def _validator(schema: dict) -> Draft202012Validator:
    """One validator per schema (building one costs more than checking a document: a changesheet checks
    thousands). Keyed by identity, and the schema kept with it so the key cannot be reused."""
    # Imported here, not above: every Dagster run worker of a site imports this module with the workflows,
    # and most runs check no document (jsonschema costs a run 30-80 ms of start-up).
    from jsonschema import Draft202012Validator

    cached = _validators.get(id(schema))
    if cached is None or cached[0] is not schema:
        cached = _validators[id(schema)] = (
            schema,
            Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER),
        )
    return cached[1]


def validation_errors(document, schema: dict) -> list[dict]:
    """Up to MAX_ERRORS problems, each {path, message}, in path order (formats such as dates checked)."""
    errors = sorted(_validator(schema).iter_errors(document), key=lambda e: list(e.absolute_path))
    return [
        {"path": "/" + "/".join(str(p) for p in e.absolute_path), "message": e.message} for e in errors[:MAX_ERRORS]
    ]
