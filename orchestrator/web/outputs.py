"""Pages of released outputs and publications, and sites' status: what the jobs site's API offers, for a
browser (the session cookie, not a Bearer token, says who is asking; downloads come from here too)."""

from typing import Annotated

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import FileResponse, HTMLResponse
from starlette.concurrency import run_in_threadpool

from orchestrator.jobsite.models import PublicationCreate
from orchestrator.jobsite.permissions import Permission
from orchestrator.jobsite.store.base import require
from orchestrator.runtime.errors import RuntimeApiError
from orchestrator.web import paging
from orchestrator.web.pages import error_page, page, redirect
from orchestrator.web.paging import Cursor, pager
from orchestrator.web.session import actor_of, check_csrf

router = APIRouter(include_in_schema=False)
Field = Annotated[str, Form()]
FileId = Annotated[int, Path(ge=1, le=2**63 - 1)]


@router.get("/status", response_class=HTMLResponse)  # /sites is the runtime API's
def sites_page(request: Request):
    store = request.app.state.store
    statuses = [store.get_site_status(site.id) for site in store.list_sites(0, 1000).items]
    return page(request, "sites.html", sites=statuses, down_after=store.settings.site_down_after_seconds)


@router.get("/workspaces/{name}/outputs", response_class=HTMLResponse)
def outputs_page(request: Request, name: str, after: Cursor = None, publications_after: Cursor = None):
    actor, jobsite = actor_of(request), request.app.state.jobsite
    try:
        workspace = jobsite.get_workspace(name)
        publications = jobsite.list_publications(name, actor, publications_after or 0, paging.PAGE_SIZE)
    except RuntimeApiError as error:
        return error_page(request, error)
    released, released_pages = None, pager(request, "after", None)
    if actor.can(Permission.VIEW_RELEASED_OUTPUTS, workspace.project) or actor.can(Permission.REVIEW_RELEASES):
        files = jobsite.list_released_files(name, actor, after or 0, paging.PAGE_SIZE)
        released, released_pages = files.items, pager(request, "after", files.next_after_seq)
    return page(
        request,
        "outputs.html",
        actor=actor,
        workspace=workspace,
        released=released,
        released_pages=released_pages,
        publications=publications.items,
        publication_pages=pager(request, "publications_after", publications.next_after_seq),
        can_draft=actor.can(Permission.CREATE_DRAFT_PUBLICATION, workspace.project),
        can_publish=actor.can(Permission.PUBLISH),
        can_delete=actor.can(Permission.REVIEW_RELEASES),
    )


@router.get("/released-files/{file_id}/download")
async def download(request: Request, file_id: FileId):
    actor = actor_of(request)
    try:
        file, path = await run_in_threadpool(request.app.state.jobsite.released_file_path, file_id, actor)
    except RuntimeApiError as error:
        return error_page(request, error)
    name = file.path.rsplit("/", 1)[-1]
    return FileResponse(path, filename=name, headers={"X-Content-SHA256": file.sha256})


@router.get("/released-files/{file_id}/delete", response_class=HTMLResponse)
def confirm_delete(request: Request, file_id: FileId):
    """Deleting cannot be undone: a page that says what goes, with the one button that does it."""
    actor = actor_of(request)
    try:
        require(actor, Permission.REVIEW_RELEASES)
        file = request.app.state.jobsite.released_file(file_id, actor)[0]
    except RuntimeApiError as error:
        return error_page(request, error)
    return page(request, "confirm_delete.html", actor=actor, file=file)


@router.post("/released-files/{file_id}/delete")
def delete_file(request: Request, file_id: FileId, csrf: Field = ""):
    actor, jobsite = actor_of(request), request.app.state.jobsite
    try:
        check_csrf(request, csrf)
        workspace = jobsite.released_file(file_id, actor)[0].workspace
        jobsite.delete_released_file(file_id, actor)
    except RuntimeApiError as error:
        return error_page(request, error)
    return redirect(f"/workspaces/{workspace}/outputs")


@router.post("/workspaces/{name}/publications")
def draft(request: Request, name: str, csrf: Field = "", title: Field = ""):
    actor = actor_of(request)
    try:
        check_csrf(request, csrf)
        request.app.state.jobsite.create_publication(name, PublicationCreate(title=title[:300]), actor)
    except RuntimeApiError as error:
        return error_page(request, error)
    return redirect(f"/workspaces/{name}/outputs")


def _decide(request: Request, publication_id: str, csrf: str, publish: bool):
    actor = actor_of(request)
    try:
        check_csrf(request, csrf)
        publication = request.app.state.jobsite.decide_publication(publication_id, publish, actor)
    except RuntimeApiError as error:
        return error_page(request, error)
    return redirect(f"/workspaces/{publication.workspace}/outputs")


@router.post("/publications/{publication_id}/publish")
def publish(request: Request, publication_id: str, csrf: Field = ""):
    return _decide(request, publication_id, csrf, True)


@router.post("/publications/{publication_id}/reject")
def reject(request: Request, publication_id: str, csrf: Field = ""):
    return _decide(request, publication_id, csrf, False)
