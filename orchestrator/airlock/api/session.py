"""/api/login, /api/logout, /api/me: log in with a username and a single-use token from the jobs site."""

from fastapi import APIRouter, Request, Response

from orchestrator.airlock.api.deps import AirlockDep, SessionDep, set_session_cookie
from orchestrator.airlock.models import Login, SessionInfo
from orchestrator.airlock.sessions import COOKIE
from orchestrator.jobsite.models import Person

router = APIRouter(prefix="/api", tags=["airlock: session"])


@router.post(
    "/login",
    response_model=SessionInfo,
    responses={
        403: {"description": "The username or token is wrong, used or expired (LOGIN_TOKEN_REFUSED)"},
        429: {"description": "Too many failed logins (TOO_MANY_ATTEMPTS)"},
    },
    summary="Log in with your username and a single-use token; sets the session cookie",
)
def login(body: Login, request: Request, response: Response, airlock: AirlockDep) -> SessionInfo:
    address = request.client.host if request.client else "unknown"
    session, person = airlock.sessions.log_in(body.username, body.token, address)
    set_session_cookie(response, request, session, airlock.settings.airlock_session_days)
    return SessionInfo(session=session, person=person)


@router.post("/logout", status_code=204, summary="End this session")
def logout(airlock: AirlockDep, session: SessionDep) -> Response:
    if session:
        airlock.sessions.log_out(session)
    response = Response(status_code=204)
    response.delete_cookie(COOKIE)
    return response


@router.get("/me", response_model=Person, summary="Who this session is, with their roles")
def me(airlock: AirlockDep, session: SessionDep) -> Person:
    return airlock.sessions.person_for(session)
