"""/api/job-requests: submit a job request, follow it job by job (public), cancel it or its actions."""

from typing import Annotated

from fastapi import APIRouter, Body, Query, Response
from starlette.concurrency import run_in_threadpool

from orchestrator.jobsite.api.deps import ActorDep, JobsiteDep
from orchestrator.jobsite.models import CancelRequest, JobRequest, JobRequestCreate
from orchestrator.runtime.api.deps import AfterSeq, BeforeSeq, Limit
from orchestrator.runtime.models import Page

router = APIRouter(prefix="/api/job-requests", tags=["jobs site: job requests"])
Name = Annotated[str | None, Query(max_length=100)]


@router.post(
    "",
    response_model=JobRequest,
    status_code=201,
    responses={
        404: {"description": "No such workspace (WORKSPACE_NOT_FOUND)"},
        409: {"description": "The workspace is archived (WORKSPACE_ARCHIVED), or this id asked for something else"},
    },
    summary="Submit a job request (ProjectDeveloper); 200 with the same request when its id was submitted before",
)
async def submit_request(
    body: JobRequestCreate, jobsite: JobsiteDep, actor: ActorDep, response: Response
) -> JobRequest:
    # git and the archive take real time: off the event loop.
    request, created = await run_in_threadpool(jobsite.submit_request, body, actor)
    response.status_code = 201 if created else 200
    return request


@router.get("", response_model=Page[JobRequest], summary="List job requests, filtered by workspace or project (public)")
def list_requests(
    jobsite: JobsiteDep,
    _: ActorDep,
    workspace: Name = None,
    project: Name = None,
    after_seq: AfterSeq = 0,
    before_seq: BeforeSeq = None,
    limit: Limit = 100,
):
    return jobsite.list_requests(after_seq, limit, workspace=workspace, project=project, before_seq=before_seq)


@router.get("/{request_id}", response_model=JobRequest, summary="A job request with its jobs, one per action (public)")
def get_request(request_id: str, jobsite: JobsiteDep, _: ActorDep) -> JobRequest:
    return jobsite.get_request(request_id)


@router.post("/{request_id}:cancel", response_model=JobRequest, summary="Cancel a job request, or some of its actions")
def cancel_request(
    request_id: str, jobsite: JobsiteDep, actor: ActorDep, body: Annotated[CancelRequest | None, Body()] = None
) -> JobRequest:
    return jobsite.cancel_request(request_id, body.actions if body else None, actor)
