"""Stored rows to API models, whatever the rows hold: a row written before a validation existed (or
straight into the database) must not fail the list it is in. A value that cannot be sent is replaced
by a marker, the item is still listed, and the replacement is logged with the row's id.
"""

import logging
import types
import typing
from typing import Any, TypeVar, Union

from pydantic import BaseModel, ValidationError

from orchestrator.runtime.jsonsafe import MEDIA_TYPE, json_problem

log = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)
UNREADABLE = "_unreadable"  # the key of the marker object that stands in for an unreadable JSON object
SAFE_MEDIA_TYPE = "application/octet-stream"
_NONE = object()  # no stand-in fits the field


def read_model(model: type[M], values: dict[str, Any], kind: str) -> M | None:
    """`values` as a `model`, with unreadable fields replaced; None (logged) if even that does not validate."""
    values = {name: _readable(value, kind, values.get("id"), name) for name, value in values.items()}
    if isinstance(values.get("mime_type"), str) and not MEDIA_TYPE.fullmatch(values["mime_type"]):
        _log(kind, values.get("id"), "mime_type", "not a media type")
        values["mime_type"] = SAFE_MEDIA_TYPE
    for _ in range(2):  # once as stored, once with the fields that failed replaced
        try:
            return model.model_validate(values)
        except ValidationError as exc:
            failed = {error["loc"][0] for error in exc.errors() if error["loc"]}
            replaced = {name: _stand_in(model, name) for name in failed if name in model.model_fields}
            if not replaced or any(value is _NONE for value in replaced.values()):
                break
            for name in replaced:
                _log(kind, values.get("id"), name, "does not match the model")
            values.update(replaced)
    log.error("stored %s %r cannot be read at all; left out of the reply", kind, values.get("id"))
    return None


def _readable(value: Any, kind: str, id_: Any, name: str) -> Any:
    problem = json_problem(value)
    if problem is None:
        return value
    _log(kind, id_, name, problem.code)
    if isinstance(value, str):  # keep the text readable: escape what cannot be sent
        return value.encode("utf-8", "backslashreplace").decode().replace("\x00", "\\x00")
    if isinstance(value, dict):
        return {UNREADABLE: f"{problem.code}: {problem.message}"}
    return None if isinstance(value, float) else [] if isinstance(value, list) else value


def _stand_in(model: type[BaseModel], name: str) -> Any:
    """What an unreadable field shows: its default, or an empty value of its type (a marker object for dicts)."""
    field = model.model_fields[name]
    if not field.is_required():
        return field.get_default(call_default_factory=True)
    annotation = field.annotation
    options = (
        typing.get_args(annotation) if typing.get_origin(annotation) in (Union, types.UnionType) else (annotation,)
    )
    origins = {typing.get_origin(option) or option for option in options}
    for kind, stand_in in (
        (dict, {UNREADABLE: "the stored value is not an object"}),
        (list, []),
        (str, ""),
        (type(None), None),
    ):
        if kind in origins:
            return stand_in
    return _NONE


def _log(kind: str, id_: Any, name: str, reason: str) -> None:
    log.warning("stored %s %r: field %r cannot be sent (%s); replaced in the reply", kind, id_, name, reason)
