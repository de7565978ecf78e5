"""Released files: a workspace's list (its project's developers and collaborators), one file and its
bytes (also anyone once published), deleting one from its release (output checkers), and the audit log."""

from typing import Annotated

from fastapi import APIRouter, Path, Response
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from orchestrator.jobsite.api.deps import ActorDep, JobsiteDep
from orchestrator.jobsite.models import ReleasedFile, ReleaseLogEntry
from orchestrator.runtime.api.deps import AfterSeq, Limit
from orchestrator.runtime.models import Page

router = APIRouter(prefix="/api", tags=["jobs site: released outputs"])
FileId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The released file's id.")]


@router.get(
    "/workspaces/{name}/released-files",
    response_model=Page[ReleasedFile],
    summary="A workspace's released files (ProjectDeveloper, ProjectCollaborator, OutputChecker)",
)
def list_released_files(
    name: str, jobsite: JobsiteDep, actor: ActorDep, after_seq: AfterSeq = 0, limit: Limit = 100
) -> Page[ReleasedFile]:
    return jobsite.list_released_files(name, actor, after_seq, limit)


@router.get(
    "/released-files/{file_id}",
    response_model=ReleasedFile,
    summary="A released file (its project's members, checkers; anyone once published; publishers while drafted)",
)
def get_released_file(file_id: FileId, jobsite: JobsiteDep, actor: ActorDep) -> ReleasedFile:
    return jobsite.released_file(file_id, actor)[0]


@router.get(
    "/released-files/{file_id}/content",
    response_class=FileResponse,
    responses={200: {"content": {"application/octet-stream": {}}}},
    summary="A released file's bytes; the X-Content-SHA256 header carries their sha256",
)
async def get_released_file_content(file_id: FileId, jobsite: JobsiteDep, actor: ActorDep) -> Response:
    file, path = await run_in_threadpool(jobsite.released_file_path, file_id, actor)
    name = file.path.rsplit("/", 1)[-1]
    return FileResponse(path, filename=name, headers={"X-Content-SHA256": file.sha256, "ETag": f'"{file.sha256}"'})


@router.delete(
    "/released-files/{file_id}",
    status_code=204,
    summary="Delete a file from its release (OutputChecker): gone from every view; the log keeps who and when",
)
def delete_released_file(file_id: FileId, jobsite: JobsiteDep, actor: ActorDep) -> Response:
    jobsite.delete_released_file(file_id, actor)
    return Response(status_code=204)


@router.get(
    "/workspaces/{name}/release-log",
    response_model=Page[ReleaseLogEntry],
    summary="Who released, deleted, drafted, published or rejected what, when",
)
def release_log(
    name: str, jobsite: JobsiteDep, actor: ActorDep, after_seq: AfterSeq = 0, limit: Limit = 100
) -> Page[ReleaseLogEntry]:
    return jobsite.release_log(name, actor, after_seq, limit)
