"""/api/workspaces: a workspace by its (unique) name; archive it or change its settings."""

from fastapi import APIRouter

from orchestrator.jobsite.api.deps import ActorDep, JobsiteDep
from orchestrator.jobsite.models import Workspace, WorkspaceUpdate

router = APIRouter(prefix="/api/workspaces", tags=["jobs site: workspaces"])


@router.get("/{name}", response_model=Workspace, summary="A workspace (public)")
def get_workspace(name: str, jobsite: JobsiteDep, _: ActorDep) -> Workspace:
    return jobsite.get_workspace(name)


@router.patch(
    "/{name}", response_model=Workspace, summary="Archive a workspace or change its settings (ProjectDeveloper)"
)
def update_workspace(name: str, body: WorkspaceUpdate, jobsite: JobsiteDep, actor: ActorDep) -> Workspace:
    return jobsite.update_workspace(name, body, actor)
