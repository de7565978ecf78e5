"""/api/releases: a site's airlock records a reviewed release of files it uploaded (site credentials)."""

from fastapi import APIRouter, Response
from starlette.concurrency import run_in_threadpool

from orchestrator.jobsite.api.deps import JobsiteDep
from orchestrator.jobsite.models import Release, ReleaseCreate
from orchestrator.runtime.api.deps import OptionalPrincipalDep

router = APIRouter(prefix="/api/releases", tags=["jobs site: released outputs"])


@router.post(
    "",
    response_model=Release,
    status_code=201,
    responses={
        403: {"description": "Not a site, or not the workspace's site (WRONG_SITE)"},
        404: {"description": "No such workspace (WORKSPACE_NOT_FOUND)"},
        409: {"description": "This id was recorded with other files (ALREADY_EXISTS)"},
    },
    summary="Record a release (the workspace's site only); 200 with the first record when its id was recorded",
)
async def record_release(
    body: ReleaseCreate, jobsite: JobsiteDep, principal: OptionalPrincipalDep, response: Response
) -> Release:
    release, created = await run_in_threadpool(jobsite.record_release, body, principal)
    response.status_code = 201 if created else 200
    return release
