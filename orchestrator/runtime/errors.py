"""Errors are values with a code, a message a user can act on, and details.

The store raises them; the API maps each kind to its HTTP status, so the same error reads the same
whether it came through the CLI, a sensor or curl.
"""

from typing import Any


class RuntimeApiError(Exception):
    """Base of every error a client can cause; never a bug."""

    http_status = 400

    def __init__(self, code: str, message: str, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or {}

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}


class InvalidArgument(RuntimeApiError):
    http_status = 422


class Unauthenticated(RuntimeApiError):
    http_status = 401


class PermissionDenied(RuntimeApiError):
    http_status = 403


class NotFound(RuntimeApiError):
    http_status = 404


class Conflict(RuntimeApiError):
    http_status = 409


class PayloadTooLarge(RuntimeApiError):
    http_status = 413


class TooManyAttempts(RuntimeApiError):
    """The caller must wait `retry_after` seconds before trying again."""

    http_status = 429

    def __init__(self, code: str, message: str, retry_after: int, details: dict[str, Any] | None = None):
        super().__init__(code, message, {"retry_after_seconds": retry_after, **(details or {})})
        self.retry_after = retry_after


def not_found(kind: str, id_: str) -> NotFound:
    return NotFound(f"{kind.upper().replace(' ', '_')}_NOT_FOUND", f"No {kind} with id {id_!r}.", {"id": id_})
