"""What the airlock's routers inject: the airlock and who is asking (session cookie or Bearer token)."""

from typing import Annotated

from fastapi import Depends, Request
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


def current_actor(airlock: AirlockDep, session: SessionDep) -> Actor:
    return actor_of(airlock.sessions.person_for(session))


ActorDep = Annotated[Actor, Depends(current_actor)]
