"""Refuses requests the store must never see, before any router runs: request bodies over the size
limit (413; object bytes have their own limit and stream past this guard) and NUL characters in
the path or query (422), which PostgreSQL cannot store or even compare."""
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from orchestrator.runtime.api.errors import error_response

_CONTENT_UPLOAD = re.compile(r"^/objects/[^/]+/content$")


class RequestGuard:
    def __init__(self, app: ASGIApp, max_body_bytes: int):
        self.app, self.max_body_bytes = app, max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if "\x00" in scope["path"] or b"%00" in scope["query_string"].lower() or b"\x00" in scope["query_string"]:
            response = error_response(422, "INVALID_ARGUMENT", "NUL characters are not allowed in the path or query.",
                                      {"location": "path" if "\x00" in scope["path"] else "query"})
            return await response(scope, receive, send)
        if scope["method"] == "PUT" and _CONTENT_UPLOAD.match(scope["path"]):
            return await self.app(scope, receive, send)
        body = await self._read_body(receive)
        if body is None:
            response = error_response(413, "REQUEST_TOO_LARGE", f"The request body exceeds {self.max_body_bytes} bytes; "
                                      "put large data in an object (POST /objects) and pass its id.",
                                      {"max_bytes": self.max_body_bytes})
            return await response(scope, receive, send)
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


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()  # after the body: wait for disconnect as usual
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
