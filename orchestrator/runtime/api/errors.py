"""Every error leaves the API as JSON {code, message, details} with its 4xx status; 5xx is a bug."""

import logging
import re

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException

from orchestrator.runtime.errors import RuntimeApiError

log = logging.getLogger(__name__)
# How long a client should wait after a database outage; the pool's pre-ping reconnects on the next request.
DATABASE_RETRY_AFTER_SECONDS = 2
_HTTP_CODES = {401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}


def error_response(
    status: int, code: str, message: str, details: dict | None = None, headers=None, request: Request | None = None
) -> JSONResponse:
    body = {"code": code, "message": message, "details": details or {}}
    if request is not None and request.url.path.startswith("/ga4gh/"):
        body.update(msg=message, status_code=status)  # GA4GH DRS clients read these two fields
    return JSONResponse(body, status_code=status, headers=headers)


async def _runtime_error(request: Request, exc: RuntimeApiError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if exc.http_status == 401 else {}
    if getattr(exc, "retry_after", None) is not None:
        headers["Retry-After"] = str(exc.retry_after)
    return error_response(exc.http_status, exc.code, exc.message, exc.details, headers, request)


async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = [{"location": list(e["loc"]), "message": e["msg"], "type": e["type"]} for e in exc.errors()]
    if any(e["type"] == "json_invalid" for e in errors):
        return error_response(400, "MALFORMED_JSON", "The request body is not valid JSON.", {"errors": errors})
    fields = ", ".join(".".join(str(p) for p in e["location"][1:]) or e["location"][0] for e in errors)
    return error_response(422, "INVALID_ARGUMENT", f"Invalid request: check {fields}.", {"errors": errors})


async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
    if exc.status_code == 400 and "json" in request.headers.get("content-type", ""):
        # FastAPI raises a bare 400 for bodies json cannot even decode (bytes that are not UTF-8, nesting
        # deeper than the parser's recursion limit): to a client that is malformed JSON like any other.
        return error_response(
            400,
            "MALFORMED_JSON",
            "The request body is not valid JSON (it must be UTF-8).",
            {"reason": str(exc.detail)},
            request=request,
        )
    headers = {"Allow": ", ".join(_allowed_methods(request))} if exc.status_code == 405 else None
    return error_response(
        exc.status_code,
        _HTTP_CODES.get(exc.status_code, "HTTP_ERROR"),
        str(exc.detail),
        headers=headers,
        request=request,
    )


def _allowed_methods(request: Request) -> list[str]:
    """Every documented method on this path, from the OpenAPI paths (Starlette names only those of
    the first route that matched the path, and FastAPI's included routers hide their routes)."""
    methods: set[str] = set()
    for template, operations in request.app.openapi()["paths"].items():
        if re.fullmatch(re.sub(r"\\{\w+\\}", "[^/]+", re.escape(template)), request.url.path):
            methods |= {method.upper() for method in operations}
    return sorted(methods)


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    """A lost or unreachable database (or a lock it gave up waiting for) is an outage to retry, not a bug.
    Handled here rather than by the catch-all, which re-raises and so closes the client's keep-alive connection."""
    outage = isinstance(exc, (OperationalError, InterfaceError, PoolTimeout)) or getattr(
        exc, "connection_invalidated", False
    )
    if not outage:
        return await _unexpected(request, exc)
    log.warning("database unavailable: %s", str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    return error_response(
        503,
        "DATABASE_UNAVAILABLE",
        "The runtime's database is unavailable; retry shortly.",
        {"retry_after_seconds": DATABASE_RETRY_AFTER_SECONDS},
        {"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
        request,
    )


async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error")
    return error_response(
        500, "INTERNAL", "An internal error occurred; it has been logged. This is a bug in the runtime."
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RuntimeApiError, _runtime_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(PoolTimeout, _database_error)
    app.add_exception_handler(Exception, _unexpected)
