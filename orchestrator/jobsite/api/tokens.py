"""Single-use login tokens: a person makes one (POST /api/me/login-token); a site's airlock redeems it
(POST /api/login-tokens:redeem, site credentials only) and learns who logged in and their roles."""

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from orchestrator.jobsite.api.deps import ActorDep, JobsiteDep
from orchestrator.jobsite.models import LoginToken, LoginTokenRedeem, Person
from orchestrator.runtime.api.deps import OptionalPrincipalDep

router = APIRouter(prefix="/api", tags=["jobs site: single-use tokens"])


@router.post(
    "/me/login-token",
    response_model=LoginToken,
    status_code=201,
    summary="Make a single-use token for the airlock (logged in; replaces your last one; shown once)",
)
async def create_login_token(jobsite: JobsiteDep, actor: ActorDep) -> LoginToken:
    return await run_in_threadpool(jobsite.create_login_token, actor)  # scrypt: off the event loop


@router.post(
    "/login-tokens:redeem",
    response_model=Person,
    responses={403: {"description": "Not a site (SITE_CREDENTIALS_REQUIRED), or the token is refused"}},
    summary="Check and consume a person's single-use token (a site's airlock only); the person and their roles",
)
async def redeem_login_token(body: LoginTokenRedeem, jobsite: JobsiteDep, principal: OptionalPrincipalDep) -> Person:
    return await run_in_threadpool(jobsite.redeem_login_token, body, principal)
