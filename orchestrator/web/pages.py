"""The jobs site's pages. Each reads and changes through the jobs site's store with the person's Actor,
so the one permission table decides here as in the API; a page offers only what the role may do, and
a refused request (a stale page, a forged form) shows the store's own message, never a stack."""

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from orchestrator.jobsite.models import CancelRequest, JobRequestCreate
from orchestrator.jobsite.permissions import Permission
from orchestrator.runtime.errors import RuntimeApiError, TooManyAttempts, Unauthenticated
from orchestrator.web import filters, paging
from orchestrator.web.paging import Cursor, pager
from orchestrator.web.session import (
    actor_of,
    check_csrf,
    csrf_token,
    end_session,
    end_token,
    keep_csrf_cookie,
    start_session,
)

FINAL = ("succeeded", "failed", "cancelled", "nothing_to_do")
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
filters.install(templates)
router = APIRouter(include_in_schema=False)
Field = Annotated[str, Form()]
Flag = Annotated[str | None, Form()]


def page(request: Request, template: str, status_code: int = 200, **context) -> HTMLResponse:
    actor = context.pop("actor", None) or actor_of(request)
    context = {"actor": actor, "csrf": csrf_token(request), **context}
    response = templates.TemplateResponse(request, template, context, status_code=status_code)
    keep_csrf_cookie(request, response)
    return response


def error_page(request: Request, error: RuntimeApiError) -> HTMLResponse:
    headings = {401: "Please log in", 403: "Not allowed", 404: "Not found", 409: "Not now", 429: "Slow down"}
    heading = headings.get(error.http_status, "That did not work")
    return page(
        request, "error.html", error.http_status, status=error.http_status, heading=heading, message=error.message
    )


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _safe_next(target: str | None) -> str:
    """Only a path on this site (never //elsewhere or a scheme): no open redirect after login."""
    return target if target and target.startswith("/") and not target.startswith("//") else "/"


@router.get("/", response_class=HTMLResponse)
def projects_page(request: Request, after: Cursor = None):
    projects = request.app.state.jobsite.list_projects(after or 0, paging.PAGE_SIZE)
    return page(
        request, "projects.html", projects=projects.items, pages=pager(request, "after", projects.next_after_seq)
    )


@router.get("/projects/{slug}", response_class=HTMLResponse)
def project_page(request: Request, slug: str, after: Cursor = None):
    jobsite = request.app.state.jobsite
    try:
        project = jobsite.get_project(slug)
        workspaces = jobsite.list_workspaces(slug, after or 0, paging.PAGE_SIZE)
        members = jobsite.list_members(slug, 0, 1000).items  # a project's people: tens, not thousands
    except RuntimeApiError as error:
        return error_page(request, error)
    actor = actor_of(request)
    return page(
        request,
        "project.html",
        actor=actor,
        project=project,
        workspaces=workspaces.items,
        pages=pager(request, "after", workspaces.next_after_seq),
        members=members,
        can_create=actor.can(Permission.CREATE_WORKSPACE, slug),
        can_edit=actor.can(Permission.EDIT_PROJECT, slug),
    )


def _workspace_context(request: Request, name: str, actor, before: int | None = None) -> dict:
    jobsite = request.app.state.jobsite
    workspace = jobsite.get_workspace(name)
    context = {"workspace": workspace, "actions": {}, "commit": "", "branch_error": None}
    try:
        context["commit"], context["actions"] = jobsite.branch_actions(name)
    except RuntimeApiError as error:  # an unreachable repository or a broken project.yaml: say so, show the rest
        context["branch_error"] = error.message
    requests = jobsite.list_requests(workspace=name, before_seq=before or 2**63 - 1, limit=paging.PAGE_SIZE)
    context["requests"], context["pages"] = requests.items, pager(request, "before", requests.next_before_seq)
    context["can_run"] = actor.can(Permission.RUN_JOBS, workspace.project)
    return context


@router.get("/workspaces/{name}", response_class=HTMLResponse)
async def workspace_page(request: Request, name: str, before: Cursor = None):
    actor = actor_of(request)
    try:
        context = await run_in_threadpool(_workspace_context, request, name, actor, before)  # git: off the event loop
    except RuntimeApiError as error:
        return error_page(request, error)
    notify = context["workspace"].notifications_default
    return page(
        request, "workspace.html", actor=actor, selected=[], run_all=False, force=False, notify=notify, **context
    )


@router.post("/workspaces/{name}/run", response_class=HTMLResponse)
async def run_actions(
    request: Request,
    name: str,
    csrf: Annotated[str | None, Form()] = None,
    run_all: Flag = None,
    force: Flag = None,
    notify: Flag = None,
):
    form = await request.form()
    selected = [value for value in form.getlist("action") if isinstance(value, str)]
    actor = actor_of(request)
    try:
        check_csrf(request, csrf)
        if not selected and not run_all:
            context = await run_in_threadpool(_workspace_context, request, name, actor)
            return page(
                request,
                "workspace.html",
                422,
                actor=actor,
                selected=selected,
                run_all=False,
                force=bool(force),
                notify=bool(notify),
                form_error="Choose at least one action to run, or run all.",
                **context,
            )
        spec = JobRequestCreate(
            workspace=name,
            requested_actions=["run_all"] if run_all else selected,
            force_run_dependencies=bool(force),
            will_notify=bool(notify),
        )
        job_request, _ = await run_in_threadpool(request.app.state.jobsite.submit_request, spec, actor)
    except RuntimeApiError as error:
        if error.http_status in (401, 403, 404) or error.code == "CSRF_FAILED":
            return error_page(request, error)
        context = await run_in_threadpool(_workspace_context, request, name, actor)
        return page(
            request,
            "workspace.html",
            error.http_status,
            actor=actor,
            selected=selected,
            run_all=bool(run_all),
            force=bool(force),
            notify=bool(notify),
            form_error=error.message,
            **context,
        )
    return redirect(f"/job-requests/{job_request.id}")


@router.get("/job-requests/{request_id}", response_class=HTMLResponse)
def job_request_page(request: Request, request_id: str):
    actor = actor_of(request)
    try:
        job_request = request.app.state.jobsite.get_request(request_id)
    except RuntimeApiError as error:
        return error_page(request, error)
    can_cancel = actor.can(Permission.CANCEL_JOBS, job_request.project) and job_request.status not in FINAL
    return page(request, "job_request.html", actor=actor, jr=job_request, final=FINAL, can_cancel=can_cancel)


@router.post("/job-requests/{request_id}/cancel")
def cancel_job_request(
    request: Request, request_id: str, csrf: Field = "", action: Annotated[str | None, Form()] = None
):
    actor = actor_of(request)
    try:
        check_csrf(request, csrf)
        actions = CancelRequest(actions=[action]).actions if action else None
        request.app.state.jobsite.cancel_request(request_id, actions, actor)
    except RuntimeApiError as error:
        return error_page(request, error)
    return redirect(f"/job-requests/{request_id}")


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/"):
    return page(request, "login.html", next=_safe_next(next), username="", error=None)


@router.post("/login", response_class=HTMLResponse)
async def log_in(request: Request, username: Field = "", password: Field = "", csrf: Field = "", next: Field = "/"):
    store = request.app.state.store
    address = request.client.host if request.client else "unknown"
    try:
        check_csrf(request, csrf)
        token = await run_in_threadpool(
            store.token_for_user, username, password, address, store.settings.web_session_seconds
        )
    except (Unauthenticated, TooManyAttempts) as error:
        message = error.message if isinstance(error, TooManyAttempts) else "That username and password do not match."
        return page(request, "login.html", error.http_status, next=_safe_next(next), username=username, error=message)
    except RuntimeApiError as error:
        return page(
            request, "login.html", error.http_status, next=_safe_next(next), username=username, error=error.message
        )
    response = redirect(_safe_next(next))
    start_session(request, response, token.access_token, token.expires_in)
    return response


@router.post("/logout")
def log_out(request: Request, csrf: Field = "") -> Response:
    try:
        check_csrf(request, csrf)
    except RuntimeApiError as error:
        return error_page(request, error)
    end_token(request)  # the cookie's token stops working, not only the cookie
    response = redirect("/")
    end_session(response)
    return response


@router.get("/settings", response_class=HTMLResponse)
def settings_page(request: Request):
    actor = actor_of(request)
    if actor.user_id is None:
        return redirect("/login?next=/settings")
    return page(request, "settings.html", actor=actor, token=None)


@router.post("/settings/token", response_class=HTMLResponse)
async def make_token(request: Request, csrf: Field = ""):
    actor = actor_of(request)
    try:
        check_csrf(request, csrf)
        token = await run_in_threadpool(request.app.state.jobsite.create_login_token, actor)
    except RuntimeApiError as error:
        return error_page(request, error)
    return page(request, "settings.html", actor=actor, token=token)
