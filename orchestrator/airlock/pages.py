"""The airlock's pages: log in with a single-use token; your workspaces' Level 4 files (a CSV as a table,
images inline, text); ask for a release; review each file as a checker; return, withdraw, submit again,
release; and the request's audit log. The same airlock parts and permission table as its API."""

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from orchestrator.airlock.api.deps import set_session_cookie
from orchestrator.airlock.central import actor_of
from orchestrator.airlock.files import preview
from orchestrator.airlock.models import (
    AuditEntry,
    FileView,
    ReleaseRequestCreate,
    RequestFileCreate,
    ReviewCreate,
)
from orchestrator.airlock.release import release
from orchestrator.airlock.sessions import COOKIE
from orchestrator.jobsite.permissions import Permission
from orchestrator.runtime.errors import NotFound, RuntimeApiError, Unauthenticated
from orchestrator.web import filters
from orchestrator.web.session import check_csrf, csrf_token, keep_csrf_cookie

templates = Jinja2Templates(directory=Path(__file__).parents[1] / "web" / "templates")
filters.install(templates)
router = APIRouter(include_in_schema=False)


class LoginNeeded(Exception):
    pass


def _actor(request: Request):
    try:
        return actor_of(request.app.state.airlock.sessions.person_for(request.cookies.get(COOKIE)))
    except Unauthenticated:
        raise LoginNeeded from None


def page(request: Request, template: str, status_code: int = 200, **context) -> HTMLResponse:
    airlock = request.app.state.airlock
    context = {"csrf": csrf_token(request), "site": airlock.settings.site_id, "actor": None, **context}
    response = templates.TemplateResponse(request, f"airlock/{template}", context, status_code=status_code)
    keep_csrf_cookie(request, response)
    return response


def error_page(request: Request, error: RuntimeApiError, actor=None) -> HTMLResponse:
    heading = {403: "Not allowed", 404: "Not found", 409: "Not now"}.get(error.http_status, "That did not work")
    return page(
        request,
        "error.html",
        error.http_status,
        actor=actor,
        status=error.http_status,
        heading=heading,
        message=error.message,
    )


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


async def guarded(request: Request, work):
    """Run `work(actor)` for a logged-in person: to the login page without a session, an error page
    (never a stack) for what the airlock refuses."""
    try:
        actor = await run_in_threadpool(_actor, request)
    except LoginNeeded:
        return redirect("/login")
    except RuntimeApiError as error:
        return error_page(request, error)
    try:
        return await run_in_threadpool(work, actor)
    except RuntimeApiError as error:
        return error_page(request, error, actor)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request):
    return page(request, "login.html", username="", error=None)


@router.post("/login", response_class=HTMLResponse)
async def log_in(request: Request):
    form, airlock = await request.form(), request.app.state.airlock
    username, token = str(form.get("username", "")), str(form.get("token", ""))
    address = request.client.host if request.client else "unknown"
    try:
        check_csrf(request, form.get("csrf"))
        session, _ = await run_in_threadpool(airlock.sessions.log_in, username, token, address)
    except RuntimeApiError as error:
        return page(request, "login.html", error.http_status, username=username, error=error.message)
    response = redirect("/")
    set_session_cookie(response, request, session, airlock.settings.airlock_session_days)
    return response


@router.post("/logout")
async def log_out(request: Request):
    form = await request.form()
    try:
        check_csrf(request, form.get("csrf"))
    except RuntimeApiError as error:
        return error_page(request, error)
    if session := request.cookies.get(COOKIE):
        request.app.state.airlock.sessions.log_out(session)
    response = redirect("/login")
    response.delete_cookie(COOKIE)
    return response


@router.get("/", response_class=HTMLResponse)
async def home(request: Request):
    airlock = request.app.state.airlock

    def work(actor):
        workspaces = airlock.my_workspaces(actor)
        may_see = actor.can(Permission.REVIEW_RELEASES) or any(
            actor.can(Permission.VIEW_LEVEL4_OUTPUTS, p) for p in actor.project_roles
        )
        requests = airlock.requests.list_requests(actor) if may_see else []
        return page(request, "home.html", actor=actor, workspaces=workspaces, requests=requests)

    return await guarded(request, work)


@router.get("/workspaces/{name}", response_class=HTMLResponse)
async def workspace(request: Request, name: str):
    airlock = request.app.state.airlock

    def work(actor):
        files = airlock.workspace_files(name, actor).list_level4()
        return page(request, "workspace.html", actor=actor, name=name, files=files, error=None)

    return await guarded(request, work)


@router.get("/workspaces/{name}/files/{path:path}", response_class=HTMLResponse)
async def file_page(request: Request, name: str, path: str):
    airlock = request.app.state.airlock

    def work(actor):
        file, data, sha256 = airlock.workspace_files(name, actor).read_level4(path)
        airlock.db.audit(actor.user_id, "view", workspace=name, path=path, detail=f"sha256 {sha256}")
        url = f"/api/workspaces/{name}/content/{path}"
        view = FileView(
            path=path, size=file.size, kind=file.kind, sha256=sha256, content_url=url, **preview(file, data)
        )
        return page(request, "file.html", actor=actor, name=name, view=view)

    return await guarded(request, work)


@router.post("/workspaces/{name}/release-requests", response_class=HTMLResponse)
async def ask(request: Request, name: str):
    airlock, form = request.app.state.airlock, await request.form()

    def work(actor):
        check_csrf(request, form.get("csrf"))
        paths = [p for p in form.getlist("path") if isinstance(p, str)]
        files = [RequestFileCreate(path=p, reason=str(form.get(f"reason:{p}", "")).strip() or "-") for p in paths]
        missing = [p for p in paths if not str(form.get(f"reason:{p}", "")).strip()]
        if not paths or missing:
            error = "Tick the files to release." if not paths else f"Say why each is needed: {', '.join(missing)}."
            listed = airlock.workspace_files(name, actor).list_level4()
            return page(request, "workspace.html", 422, actor=actor, name=name, files=listed, error=error)
        created = airlock.requests.create(ReleaseRequestCreate(workspace=name, files=files), actor)
        return redirect(f"/release-requests/{created.id}")

    return await guarded(request, work)


def _request_page(request: Request, request_id: str, actor, error: str | None = None, status_code: int = 200):
    airlock = request.app.state.airlock
    rr = airlock.requests.get(request_id, actor)
    audit = [AuditEntry(**entry) for entry in airlock.db.audit_entries(request_id)]
    can_review = actor.can(Permission.REVIEW_RELEASES) and actor.user_id != rr.author
    mine = {f.path: r for f in rr.files for r in f.reviews if r.reviewer == actor.user_id}
    return page(
        request,
        "request.html",
        status_code,
        actor=actor,
        rr=rr,
        audit=audit,
        can_review=can_review,
        my_reviews=mine,
        blockers=airlock.requests.approval_problems(rr),
        is_author=actor.user_id == rr.author,
        error=error,
    )


@router.get("/release-requests/{request_id}", response_class=HTMLResponse)
async def request_page(request: Request, request_id: str):
    return await guarded(request, lambda actor: _request_page(request, request_id, actor))


def _step(request: Request, request_id: str, form, do):
    """A form on a request's page: do(actor) then back to the page; a refusal shows on the page."""

    def work(actor):
        check_csrf(request, form.get("csrf"))
        try:
            do(actor)
        except ValidationError as error:  # a form field out of range (a decision that is neither)
            problems = "; ".join(problem["msg"] for problem in error.errors())
            return _request_page(request, request_id, actor, problems, 422)
        except RuntimeApiError as error:
            if error.http_status in (401, 403, 404):
                raise
            return _request_page(request, request_id, actor, error.message, error.http_status)
        return redirect(f"/release-requests/{request_id}")

    return work


@router.post("/release-requests/{request_id}/{step}", response_class=HTMLResponse)
async def request_step(request: Request, request_id: str, step: str):
    airlock, form = request.app.state.airlock, await request.form()
    requests = airlock.requests
    steps = {
        "review": lambda actor: requests.review(
            request_id,
            ReviewCreate(
                path=str(form.get("path", "")),
                decision=str(form.get("decision", "")),
                comment=str(form.get("comment", "")),
            ),
            actor,
        ),
        "withdraw": lambda actor: requests.withdraw(request_id, [str(form.get("path", ""))], actor),
        "return": lambda actor: requests.return_to_author(request_id, str(form.get("comment", "")), actor),
        "submit": lambda actor: requests.submit_again(request_id, actor),
        "release": lambda actor: release(requests, request_id, actor),
    }
    if step not in steps:
        return error_page(request, NotFound("NOT_FOUND", f"No such step {step!r}."))
    return await guarded(request, _step(request, request_id, form, steps[step]))
