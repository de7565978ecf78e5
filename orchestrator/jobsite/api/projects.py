"""/api/projects: projects (public to read) and their workspaces and members."""

from fastapi import APIRouter, Response

from orchestrator.jobsite.api.deps import ALREADY_EXISTS, ActorDep, JobsiteDep
from orchestrator.jobsite.models import (
    Membership,
    MembershipSet,
    Project,
    ProjectCreate,
    ProjectUpdate,
    Workspace,
    WorkspaceCreate,
)
from orchestrator.runtime.api.deps import AfterSeq, Limit
from orchestrator.runtime.models import Page

router = APIRouter(prefix="/api/projects", tags=["jobs site: projects"])


@router.get("", response_model=Page[Project], summary="List projects (public)")
def list_projects(jobsite: JobsiteDep, _: ActorDep, after_seq: AfterSeq = 0, limit: Limit = 100):
    return jobsite.list_projects(after_seq, limit)


@router.post("", response_model=Project, status_code=201, responses=ALREADY_EXISTS, summary="Create a project (admin)")
def create_project(body: ProjectCreate, jobsite: JobsiteDep, actor: ActorDep) -> Project:
    return jobsite.create_project(body, actor)


@router.get("/{slug}", response_model=Project, summary="A project (public)")
def get_project(slug: str, jobsite: JobsiteDep, _: ActorDep) -> Project:
    return jobsite.get_project(slug)


@router.patch("/{slug}", response_model=Project, summary="Change a project's name, organisation or status (admin)")
def update_project(slug: str, body: ProjectUpdate, jobsite: JobsiteDep, actor: ActorDep) -> Project:
    return jobsite.update_project(slug, body, actor)


@router.get("/{slug}/workspaces", response_model=Page[Workspace], summary="A project's workspaces (public)")
def list_workspaces(slug: str, jobsite: JobsiteDep, _: ActorDep, after_seq: AfterSeq = 0, limit: Limit = 100):
    return jobsite.list_workspaces(slug, after_seq, limit)


@router.post(
    "/{slug}/workspaces",
    response_model=Workspace,
    status_code=201,
    responses=ALREADY_EXISTS,
    summary="Create a workspace (ProjectDeveloper)",
)
def create_workspace(slug: str, body: WorkspaceCreate, jobsite: JobsiteDep, actor: ActorDep) -> Workspace:
    return jobsite.create_workspace(slug, body, actor)


@router.get("/{slug}/members", response_model=Page[Membership], summary="A project's members and their roles (public)")
def list_members(slug: str, jobsite: JobsiteDep, _: ActorDep, after_seq: AfterSeq = 0, limit: Limit = 100):
    return jobsite.list_members(slug, after_seq, limit)


@router.put("/{slug}/members/{username}", response_model=Membership, summary="Set a member's roles (admin)")
def set_member(slug: str, username: str, body: MembershipSet, jobsite: JobsiteDep, actor: ActorDep) -> Membership:
    return jobsite.set_membership(slug, username, body, actor)


@router.delete("/{slug}/members/{username}", status_code=204, summary="Remove a member (admin)")
def remove_member(slug: str, username: str, jobsite: JobsiteDep, actor: ActorDep) -> Response:
    jobsite.remove_membership(slug, username, actor)
    return Response(status_code=204)
