"""What the airlock's routers inject: the airlock and who is asking (session cookie or Bearer token)."""

from typing import Annotated

from fastapi import Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from orchestrator.airlock.central import actor_of
from orchestrator.airlock.service import Airlock
from orchestrator.airlock.sessions import COOKIE
from orchestrator.jobsite.permissions import Actor

_bearer = HTTPBearer(auto_error=False)


def get_airlock(request: Request) -> Airlock:
    return request.app.state.airlock


AirlockDep = Annotated[Airlock, Depends(get_airlock)]


def session_token(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> str | None:
    return credentials.credentials if credentials is not None else request.cookies.get(COOKIE)


SessionDep = Annotated[str | None, Depends(session_token)]


def set_session_cookie(response: Response, request: Request, session: str, days: float) -> None:
    """HttpOnly (no script reads it), SameSite=Strict (no other site sends it), Secure over https; sent again
    on each use, so a browser keeps it for `days` after the last use, as the server keeps the session."""
    response.set_cookie(
        COOKIE,
        session,
        max_age=int(days * 86400),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def current_actor(airlock: AirlockDep, session: SessionDep, request: Request, response: Response) -> Actor:
    actor = actor_of(airlock.sessions.person_for(session))
    if session == request.cookies.get(COOKIE):
        set_session_cookie(response, request, session, airlock.settings.airlock_session_days)
    return actor


ActorDep = Annotated[Actor, Depends(current_actor)]
