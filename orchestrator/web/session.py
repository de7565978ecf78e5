"""Who is looking at a page, and forms that cannot be forged: the session cookie holds the runtime's own
access token for the person (HttpOnly, SameSite=Lax, Secure over https); every form carries the value of
a separate HttpOnly, SameSite=Strict `csrf` cookie, and a POST whose field does not match it is refused."""

import hmac
import secrets

from fastapi import Request, Response

from orchestrator.jobsite.permissions import ANONYMOUS, Actor
from orchestrator.runtime.errors import PermissionDenied, Unauthenticated

SESSION_COOKIE, CSRF_COOKIE = "jobsite_session", "csrf"


def actor_of(request: Request) -> Actor:
    """The person behind the session cookie, or anonymous (an expired or revoked token is no session)."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return ANONYMOUS
    store, jobsite = request.app.state.store, request.app.state.jobsite
    try:
        return jobsite.actor(store.authenticate(token))
    except Unauthenticated:
        return ANONYMOUS


def csrf_token(request: Request) -> str:
    """The form token of this browser: its csrf cookie's value, made on its first page."""
    token = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "new_csrf", None)
    if not token:
        token = request.state.new_csrf = secrets.token_urlsafe(24)
    return token


def keep_csrf_cookie(request: Request, response: Response) -> None:
    if new := getattr(request.state, "new_csrf", None):
        response.set_cookie(CSRF_COOKIE, new, httponly=True, samesite="strict", secure=request.url.scheme == "https")


def check_csrf(request: Request, submitted: str | None) -> None:
    expected = request.cookies.get(CSRF_COOKIE)
    if not expected or not submitted or not hmac.compare_digest(expected, submitted):
        raise PermissionDenied(
            "CSRF_FAILED", "This form is out of date or came from another site; reload the page and try again."
        )


def start_session(request: Request, response: Response, access_token: str, seconds: int) -> None:
    secure = request.url.scheme == "https"
    response.set_cookie(SESSION_COOKIE, access_token, max_age=seconds, httponly=True, samesite="lax", secure=secure)


def end_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE)


def end_token(request: Request) -> None:
    """Revoke the session cookie's access token (logging out), if it is still a live one."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return
    store = request.app.state.store
    try:
        store.revoke_token(token, store.authenticate(token))
    except Unauthenticated:
        pass  # expired or revoked already: nothing to end
