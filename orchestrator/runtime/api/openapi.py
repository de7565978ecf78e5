"""The OpenAPI document names every error a route can answer, each with the one error schema {code,
message, details}; which errors apply follows from the route's dependencies, path and method (a table,
not a list per route), so a new route is documented like its kind without anyone remembering to. A
route that answers an error status with a body of its own (a down site's status is 503) documents
its model there; that status's schema is then either it or the error schema.
"""

from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field

from orchestrator.runtime.api.deps import (
    bearer_token,
    current_admin,
    current_principal,
    current_site,
    optional_principal,
)

ERROR_DESCRIPTIONS = {
    400: "Malformed JSON (MALFORMED_JSON)",
    401: "Missing, invalid, expired or revoked token; or wrong credentials at /token",
    403: "The caller may not do this (ADMIN_ONLY, SITE_ONLY, SITE_OR_ADMIN_ONLY, NOT_OWNER, MISSING_CAPABILITY, WRONG_SITE, MISSING_ROLE)",
    404: "No such resource (e.g. JOB_NOT_FOUND)",
    409: "The resource's state does not allow this (e.g. JOB_NOT_OPEN, OPERATION_DONE, ALREADY_EXISTS)",
    413: "The request body is over the size limit",
    422: "Invalid request: a field, parameter or JSON value that cannot be stored (e.g. INVALID_ARGUMENT, JSON_TOO_DEEP)",
    429: "Too many failed logins (TOO_MANY_ATTEMPTS); see Retry-After",
    503: "The database is unavailable (DATABASE_UNAVAILABLE); see Retry-After",
}
_WRITES = {"POST", "PUT", "PATCH", "DELETE"}
_CONFLICT_CREATES = {("POST", "/jobs"), ("POST", "/sites")}  # creating what exists with another definition


class Error(BaseModel):
    """Every error reply: a stable code to branch on, a message for people, and details."""

    code: str = Field(description="Stable and machine-readable, e.g. JOB_NOT_FOUND")
    message: str = Field(description="What went wrong and what to do about it")
    details: dict[str, Any] = Field(description="Facts about the error, e.g. the fields that failed validation")


def error_statuses(route: APIRoute, method: str) -> set[int]:
    calls = _calls(route.dependant)
    # A route that takes the bare token (bearer_token, not current_principal) has its store check it and the role.
    store_checked = bearer_token in calls and current_principal not in calls
    authenticated = current_principal in calls or store_checked
    statuses = {422, 503}
    if authenticated:
        statuses.add(401)
    if calls & {current_admin, current_site} or store_checked or (authenticated and method in _WRITES):
        statuses.add(403)
    if optional_principal in calls:  # public reads; writes need a person with a role (see jobsite/permissions.py)
        statuses |= {401, 403} if method in _WRITES else {401}
    if route.dependant.path_params:
        statuses |= {404, 409}  # 409 also when a stored record cannot be read (UNREADABLE_RECORD)
    if (method, route.path) in _CONFLICT_CREATES:
        statuses.add(409)
    if method in _WRITES:
        statuses |= {400, 413}
    if route.path == "/token":
        statuses |= {400, 401, 429}
    return statuses


def _calls(dependant: Dependant) -> set:
    calls, stack = set(), [dependant]
    while stack:
        current = stack.pop()
        calls.add(current.call)
        stack.extend(current.dependencies)
    return calls


def install_openapi(app: FastAPI, routers: list[APIRouter]) -> None:
    """Document the errors of `routers`' routes (their own routes carry full paths; the app's included
    copies of them do not expose theirs)."""

    def openapi() -> dict:
        if app.openapi_schema is None:
            app.openapi_schema = _document_errors(
                routers,
                get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes),
            )
        return app.openapi_schema

    app.openapi = openapi


def _document_errors(routers: list[APIRouter], schema: dict) -> dict:
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    schemas["Error"] = Error.model_json_schema()
    for name in ("HTTPValidationError", "ValidationError"):  # FastAPI's own 422 shape, which we never send
        schemas.pop(name, None)
    error = {"$ref": "#/components/schemas/Error"}
    for route in (route for router in routers for route in router.routes):
        if not isinstance(route, APIRoute) or route.path_format not in schema["paths"]:
            continue
        for method in route.methods:
            responses = schema["paths"][route.path_format][method.lower()]["responses"]
            declared = {int(status) for status in route.responses if str(status).isdigit() and int(status) >= 400}
            for status in sorted(error_statuses(route, method) | declared):
                documented = responses.get(str(status), {})
                # Only a model the route itself declared (FastAPI adds its own 422 model, which we never send).
                declared = "model" in route.responses.get(status, {})
                own = declared and documented.get("content", {}).get("application/json", {}).get("schema")
                responses[str(status)] = {
                    "description": documented.get("description") or ERROR_DESCRIPTIONS[status],
                    "content": {"application/json": {"schema": {"anyOf": [own, error]} if own else error}},
                }
    return schema
