"""Refuses requests the store must never see, before any router runs: request bodies over the size
limit (413; object bytes have their own limit and stream past this guard), NUL characters in the
path or query, and bodies or queries no database can store or no client read back (422, jsonsafe)."""

import json
import re
from urllib.parse import parse_qsl

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from orchestrator.runtime.api.errors import error_response
from orchestrator.runtime.jsonsafe import Problem, json_problem, too_deep

_CONTENT_UPLOAD = re.compile(r"^/objects/[^/]+/content$")
_LARGE_BODY_BYTES = 64 << 10


class RequestGuard:
    def __init__(self, app: ASGIApp, max_body_bytes: int):
        self.app, self.max_body_bytes = app, max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if "\x00" in scope["path"] or b"%00" in scope["query_string"].lower() or b"\x00" in scope["query_string"]:
            response = error_response(
                422,
                "INVALID_ARGUMENT",
                "NUL characters are not allowed in the path or query.",
                {"location": "path" if "\x00" in scope["path"] else "query"},
            )
            return await response(scope, receive, send)
        if not _is_utf8_form(scope["query_string"]):
            return await _refuse(
                Problem("INVALID_ENCODING", "The query string must be UTF-8 (percent-encoded).", ["query"]),
                scope,
                receive,
                send,
            )
        if scope["method"] == "PUT" and _CONTENT_UPLOAD.match(scope["path"]):
            return await self.app(scope, receive, send)
        body = await self._read_body(receive)
        if body is None:
            response = error_response(
                413,
                "REQUEST_TOO_LARGE",
                f"The request body exceeds {self.max_body_bytes} bytes; "
                "put large data in an object (POST /objects) and pass its id.",
                {"max_bytes": self.max_body_bytes},
            )
            return await response(scope, receive, send)
        content_type = Headers(scope=scope).get("content-type", "")
        # Parsing and walking a few MiB takes a fraction of a second: not on the event loop, then.
        check = run_in_threadpool if len(body) > _LARGE_BODY_BYTES else _call
        problem = await check(body_problem, content_type, body)
        if problem:
            return await _refuse(problem, scope, receive, send)
        await self.app(scope, _replay(body, receive), send)

    async def _read_body(self, receive: Receive) -> bytes | None:
        """The whole body, or None as soon as it grows past the limit (the rest is never read)."""
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return b"".join(chunks)  # client went away; the app will see an empty body
            size += len(message.get("body", b""))
            if size > self.max_body_bytes:
                return None
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                return b"".join(chunks)


async def _call(function, *args):
    return function(*args)


def body_problem(content_type: str, body: bytes) -> Problem | None:
    """Why a JSON or form body must not reach the store, or None. Bodies that are not even JSON are left
    to FastAPI, which answers 400 MALFORMED_JSON."""
    media_type = content_type.split(";")[0].strip().lower()
    if not body:
        return None
    if media_type == "application/x-www-form-urlencoded":
        if not _is_utf8_form(body):
            return Problem("INVALID_ENCODING", "The form body must be UTF-8 (percent-encoded).", ["body"])
        return json_problem(dict(parse_qsl(body.decode(), keep_blank_values=True)))
    is_json = media_type == "application/json" or media_type.startswith("application/") and media_type.endswith("+json")
    if media_type and not is_json:
        return None  # FastAPI reads only these (or no content type at all) as JSON
    try:
        value = json.loads(body)
    except RecursionError:  # nested deeper than the parser's own limit, so far deeper than ours
        return too_deep()
    except ValueError:
        return None
    return json_problem(value)


def _is_utf8_form(data: bytes) -> bool:
    """Whether every percent-escape and raw byte of a query string or form body decodes as UTF-8."""
    try:
        parse_qsl(data.decode(), keep_blank_values=True, errors="strict")
    except (UnicodeDecodeError, ValueError):
        return False
    return True


async def _refuse(problem: Problem, scope: Scope, receive: Receive, send: Send) -> None:
    response = error_response(
        422, problem.code, problem.message, {"location": problem.location}, request=Request(scope)
    )
    await response(scope, receive, send)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()  # after the body: wait for disconnect as usual
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
