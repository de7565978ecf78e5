"""/api/workspaces: the Level 4 files and action logs of this site's workspaces, for the developers of
their projects (CSV as a table, text as text, images by their bytes; each with size and sha256)."""

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from orchestrator.airlock.api.deps import ActorDep, AirlockDep
from orchestrator.airlock.files import preview
from orchestrator.airlock.models import FileSummary, FileView, WorkspaceSummary

router = APIRouter(prefix="/api/workspaces", tags=["airlock: Level 4 files"])


@router.get("", response_model=list[WorkspaceSummary], summary="Your projects' workspaces at this site")
def my_workspaces(airlock: AirlockDep, actor: ActorDep) -> list[WorkspaceSummary]:
    return [WorkspaceSummary(name=name, project=project) for name, project in airlock.my_workspaces(actor)]


@router.get("/{name}/files", response_model=list[FileSummary], summary="A workspace's Level 4 files (ProjectDeveloper)")
def list_files(name: str, airlock: AirlockDep, actor: ActorDep) -> list[FileSummary]:
    files = airlock.workspace_files(name, actor)
    return [FileSummary(path=f.path, size=f.size, kind=f.kind) for f in files.list_level4()]


@router.get("/{name}/files/{path:path}", response_model=FileView, summary="A Level 4 file, ready to show")
def view_file(name: str, path: str, request: Request, airlock: AirlockDep, actor: ActorDep) -> FileView:
    file, data, sha256 = airlock.workspace_files(name, actor).read_level4(path)
    airlock.db.audit(actor.user_id, "view", workspace=name, path=path, detail=f"sha256 {sha256}")
    url = str(request.url_for("file_content", name=name, path=path))
    return FileView(path=path, size=file.size, kind=file.kind, sha256=sha256, content_url=url, **preview(file, data))


@router.get(
    "/{name}/content/{path:path}",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}},
    summary="A Level 4 file's bytes (X-Content-SHA256 carries their sha256)",
)
async def file_content(name: str, path: str, airlock: AirlockDep, actor: ActorDep) -> Response:
    files = await run_in_threadpool(airlock.workspace_files, name, actor)
    file, data, sha256 = await run_in_threadpool(files.read_level4, path)
    await run_in_threadpool(airlock.db.audit, actor.user_id, "download", workspace=name, path=path, detail=sha256)
    headers = {"X-Content-SHA256": sha256, "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"}
    return Response(data, media_type=file.media_type, headers=headers)


@router.get("/{name}/logs/{action}", response_class=Response, summary="An action's log (live while it runs)")
def action_log(name: str, action: str, airlock: AirlockDep, actor: ActorDep) -> Response:
    text = airlock.workspace_files(name, actor).log(action)
    return Response(text, media_type="text/plain; charset=utf-8")
