"""The JSON Schemas metadata is checked against, by name (`study-metadata`): a trigger's metadata-in
config names one, and the runtime checks a document a changesheet changed against the same. Each
describes a document set ({collection: [document, ...]}); one document is checked as a set of one."""

import json
from functools import cache
from pathlib import Path

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


def validation_errors(document, schema: dict) -> list[dict]:
    """Up to MAX_ERRORS problems, each {path, message}, in path order (formats such as dates checked)."""
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    return [
        {"path": "/" + "/".join(str(p) for p in e.absolute_path), "message": e.message} for e in errors[:MAX_ERRORS]
    ]
