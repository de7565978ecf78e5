"""Creating and editing a workspace, and editing a project, from the browser: every problem is shown
beside its field (the model's checks, git's, a taken name, an unknown site) and what was typed is kept."""

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from orchestrator.jobsite.models import ProjectStatus, ProjectUpdate, WorkspaceCreate, WorkspaceUpdate
from orchestrator.jobsite.permissions import Permission
from orchestrator.runtime.errors import PermissionDenied, RuntimeApiError, Unauthenticated
from orchestrator.web.pages import error_page, page, redirect
from orchestrator.web.session import actor_of, check_csrf

router = APIRouter(include_in_schema=False)
# Which field a store error is about, by its code.
FIELD_OF = {
    "INVALID_REPO_URL": "repo",
    "REPO_UNREACHABLE": "repo",
    "INVALID_BRANCH": "branch",
    "UNKNOWN_BRANCH": "branch",
    "ALREADY_EXISTS": "name",
    "SITE_NOT_FOUND": "site_id",
}


async def _attempt(request: Request, form, work):
    """(what `work()` made, {}, None); or (None, problems by field, None) to show beside the fields; or
    (None, None, an error page) for what no field explains (not allowed, a forged form)."""
    try:
        check_csrf(request, form.get("csrf"))
        return await run_in_threadpool(work), {}, None
    except ValidationError as error:
        return None, _field_errors(error), None
    except RuntimeApiError as error:
        if error.code not in FIELD_OF:
            return None, None, error_page(request, error)
        return None, {FIELD_OF[error.code]: error.message}, None


def _field_errors(error: ValidationError) -> dict[str, str]:
    errors = {}
    for problem in error.errors():
        field = str(problem["loc"][0]) if problem["loc"] else "_form"
        errors.setdefault(field, problem["msg"].removeprefix("Value error, "))
    return errors


def _form_values(form) -> dict:
    values = {key: form.get(key, "") for key in ("name", "repo", "branch", "site_id", "database", "purpose")}
    values["notifications_default"] = form.get("notifications_default") == "1"
    values["archived"] = form.get("archived") == "1"
    return values


def _sites(request: Request) -> list[str]:
    return [site.id for site in request.app.state.store.list_sites(0, 1000).items]


@router.get("/projects/{slug}/workspaces/new", response_class=HTMLResponse)
def new_workspace(request: Request, slug: str):
    actor = actor_of(request)
    if not actor.can(Permission.CREATE_WORKSPACE, slug):
        return error_page(request, _refusal(actor, "create a workspace"))
    sites = _sites(request)
    values = {"branch": "main", "site_id": sites[0] if sites else "", "database": "full"}
    return page(
        request,
        "workspace_form.html",
        actor=actor,
        project=slug,
        workspace=None,
        sites=sites,
        values=values,
        errors={},
        action=f"/projects/{slug}/workspaces/new",
    )


@router.post("/projects/{slug}/workspaces/new", response_class=HTMLResponse)
async def create_workspace(request: Request, slug: str):
    actor, form = actor_of(request), await request.form()
    values = _form_values(form)

    def work():
        spec = WorkspaceCreate(**{k: v for k, v in values.items() if k != "archived"})
        return request.app.state.jobsite.create_workspace(slug, spec, actor)

    workspace, errors, refused = await _attempt(request, form, work)
    if refused or workspace:
        return refused or redirect(f"/workspaces/{workspace.name}")
    return page(
        request,
        "workspace_form.html",
        422,
        actor=actor,
        project=slug,
        workspace=None,
        sites=_sites(request),
        values=values,
        errors=errors,
        action=f"/projects/{slug}/workspaces/new",
    )


@router.get("/workspaces/{name}/edit", response_class=HTMLResponse)
def edit_workspace_page(request: Request, name: str):
    actor, jobsite = actor_of(request), request.app.state.jobsite
    try:
        workspace = jobsite.get_workspace(name)
    except RuntimeApiError as error:
        return error_page(request, error)
    if not actor.can(Permission.EDIT_WORKSPACE, workspace.project):
        return error_page(request, _refusal(actor, "edit this workspace"))
    return page(
        request,
        "workspace_form.html",
        actor=actor,
        project=workspace.project,
        workspace=workspace,
        values=workspace.model_dump(),
        errors={},
        action=f"/workspaces/{name}/edit",
        sites=[],
    )


@router.post("/workspaces/{name}/edit", response_class=HTMLResponse)
async def edit_workspace(request: Request, name: str):
    actor, form, jobsite = actor_of(request), await request.form(), request.app.state.jobsite
    values = _form_values(form)
    try:
        workspace = jobsite.get_workspace(name)
    except RuntimeApiError as error:
        return error_page(request, error)

    def work():
        change = WorkspaceUpdate(
            branch=values["branch"],
            purpose=values["purpose"],
            notifications_default=values["notifications_default"],
            archived=values["archived"],
        )
        return jobsite.update_workspace(name, change, actor)

    updated, errors, refused = await _attempt(request, form, work)
    if refused or updated:
        return refused or redirect(f"/workspaces/{name}")
    return page(
        request,
        "workspace_form.html",
        422,
        actor=actor,
        project=workspace.project,
        workspace=workspace,
        values=values,
        errors=errors,
        action=f"/workspaces/{name}/edit",
        sites=[],
    )


def _refusal(actor, what: str) -> RuntimeApiError:
    if actor.user_id is None:
        return Unauthenticated("LOGIN_REQUIRED", f"Log in to {what}.")
    return PermissionDenied("MISSING_ROLE", f"Your roles do not let you {what} here.")


@router.get("/projects/{slug}/edit", response_class=HTMLResponse)
def edit_project_page(request: Request, slug: str):
    actor, jobsite = actor_of(request), request.app.state.jobsite
    try:
        project = jobsite.get_project(slug)
    except RuntimeApiError as error:
        return error_page(request, error)
    if not actor.can(Permission.EDIT_PROJECT, slug):
        return error_page(request, _refusal(actor, "edit a project"))
    return page(
        request,
        "project_form.html",
        actor=actor,
        project=project,
        values=project.model_dump(mode="json"),
        errors={},
        statuses=[s.value for s in ProjectStatus],
    )


@router.post("/projects/{slug}/edit", response_class=HTMLResponse)
async def edit_project(request: Request, slug: str):
    actor, form, jobsite = actor_of(request), await request.form(), request.app.state.jobsite
    values = {key: str(form.get(key, "")) for key in ("name", "org", "status", "status_description")}
    try:
        project = jobsite.get_project(slug)
    except RuntimeApiError as error:
        return error_page(request, error)
    updated, errors, refused = await _attempt(
        request, form, lambda: jobsite.update_project(slug, ProjectUpdate(**values), actor)
    )
    if refused or updated:
        return refused or redirect(f"/projects/{slug}")
    return page(
        request,
        "project_form.html",
        422,
        actor=actor,
        project=project,
        values=values,
        errors=errors,
        statuses=[s.value for s in ProjectStatus],
    )
