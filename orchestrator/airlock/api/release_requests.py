"""/api/release-requests: ask for Level 4 files to be released (ProjectDeveloper), review each file
(two OutputCheckers, neither the author), return, withdraw, submit again, release; and the audit log."""

from typing import Annotated

from fastapi import APIRouter, Body, Query
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from orchestrator.airlock.api.deps import ActorDep, AirlockDep
from orchestrator.airlock.models import (
    AuditEntry,
    ReleaseRequest,
    ReleaseRequestCreate,
    RequestStatus,
    ReturnRequest,
    ReviewCreate,
    Withdraw,
)
from orchestrator.airlock.release import release

router = APIRouter(prefix="/api/release-requests", tags=["airlock: release requests"])
STATE = {409: {"description": "The request's status does not allow it (WRONG_STATUS, NOT_APPROVED)"}}


@router.post("", response_model=ReleaseRequest, status_code=201, summary="Ask for files to be released")
def create_request(body: ReleaseRequestCreate, airlock: AirlockDep, actor: ActorDep) -> ReleaseRequest:
    return airlock.requests.create(body, actor)


@router.get("", response_model=list[ReleaseRequest], summary="Release requests, newest first (checkers: all)")
def list_requests(
    airlock: AirlockDep,
    actor: ActorDep,
    workspace: Annotated[str | None, Query(max_length=100)] = None,
    status: RequestStatus | None = None,
) -> list[ReleaseRequest]:
    return airlock.requests.list_requests(actor, workspace, status)


@router.get("/{request_id}", response_model=ReleaseRequest, summary="A release request with its files and reviews")
def get_request(request_id: str, airlock: AirlockDep, actor: ActorDep) -> ReleaseRequest:
    return airlock.requests.get(request_id, actor)


@router.get(
    "/{request_id}/content/{path:path}",
    response_class=FileResponse,
    responses={200: {"content": {"application/octet-stream": {}}}},
    summary="The bytes under review (as copied when asked for)",
)
async def requested_content(request_id: str, path: str, airlock: AirlockDep, actor: ActorDep) -> FileResponse:
    file, copy = await run_in_threadpool(airlock.requests.file_bytes, request_id, path, actor)
    return FileResponse(copy, filename=path.rsplit("/", 1)[-1], headers={"X-Content-SHA256": file.sha256})


@router.post(
    "/{request_id}/reviews", response_model=ReleaseRequest, responses=STATE, summary="Approve or reject a file"
)
def review(request_id: str, body: ReviewCreate, airlock: AirlockDep, actor: ActorDep) -> ReleaseRequest:
    return airlock.requests.review(request_id, body, actor)


@router.post("/{request_id}:return", response_model=ReleaseRequest, responses=STATE, summary="Return it to its author")
def return_request(
    request_id: str, airlock: AirlockDep, actor: ActorDep, body: Annotated[ReturnRequest | None, Body()] = None
) -> ReleaseRequest:
    return airlock.requests.return_to_author(request_id, (body or ReturnRequest()).comment, actor)


@router.post(
    "/{request_id}:submit", response_model=ReleaseRequest, responses=STATE, summary="Submit a returned request again"
)
def submit_again(request_id: str, airlock: AirlockDep, actor: ActorDep) -> ReleaseRequest:
    return airlock.requests.submit_again(request_id, actor)


@router.post(
    "/{request_id}:withdraw",
    response_model=ReleaseRequest,
    responses=STATE,
    summary="Withdraw files of it (its author), or all of it for good",
)
def withdraw(
    request_id: str, airlock: AirlockDep, actor: ActorDep, body: Annotated[Withdraw | None, Body()] = None
) -> ReleaseRequest:
    return airlock.requests.withdraw(request_id, (body or Withdraw()).paths, actor)


@router.post(
    "/{request_id}:release",
    response_model=ReleaseRequest,
    responses={**STATE, 503: {"description": "The central server failed; release again to resume"}},
    summary="Release an approved request (OutputChecker, not its author); again resumes a cut-off release",
)
def release_request(request_id: str, airlock: AirlockDep, actor: ActorDep) -> ReleaseRequest:
    return release(airlock.requests, request_id, actor)


@router.get(
    "/{request_id}/audit", response_model=list[AuditEntry], summary="Every step of the request: who, what, when"
)
def audit(request_id: str, airlock: AirlockDep, actor: ActorDep) -> list[AuditEntry]:
    airlock.requests.get(request_id, actor)  # who may see the request may see its history
    return [AuditEntry(**entry) for entry in airlock.db.audit_entries(request_id)]
