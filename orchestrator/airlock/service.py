"""The airlock's parts, built once per process from the settings: its database, the central server
as this site, sessions, release requests, and who may read which workspace's files."""

from dataclasses import dataclass

from orchestrator.airlock.central import Central
from orchestrator.airlock.db import AirlockDatabase
from orchestrator.airlock.files import WorkspaceFiles
from orchestrator.airlock.requests import ReleaseRequests
from orchestrator.airlock.sessions import Sessions
from orchestrator.jobsite.permissions import Actor, Permission
from orchestrator.jobsite.store.base import require
from orchestrator.runtime.client import Credentials, RuntimeClient
from orchestrator.settings import Settings


@dataclass
class Airlock:
    settings: Settings
    db: AirlockDatabase
    central: Central
    sessions: Sessions
    requests: ReleaseRequests

    @classmethod
    def open(cls, settings: Settings, central: Central | None = None) -> "Airlock":
        if not settings.site_id:
            raise ValueError("ORCHESTRATOR_SITE_ID is not set: the airlock serves the workspaces of one site.")
        if central is None:
            if not (settings.url and settings.client_id and settings.client_secret):
                raise ValueError(
                    "The airlock calls the central server as its site: set ORCHESTRATOR_URL, "
                    "ORCHESTRATOR_CLIENT_ID and ORCHESTRATOR_CLIENT_SECRET (orchestrator runtime create-site)."
                )
            creds = Credentials(client_id=settings.client_id, client_secret=settings.client_secret)
            central = Central(RuntimeClient(settings.url, creds, max_retries=2), settings.site_id)
        db = AirlockDatabase.open(settings.airlock_database_url)
        return cls(settings, db, central, Sessions(db, central, settings), ReleaseRequests(db, central, settings))

    def workspace_files(self, name: str, actor: Actor) -> WorkspaceFiles:
        """A workspace at this site whose Level 4 files `actor` may read (ProjectDeveloper of its project)."""
        workspace = self.requests.workspace_here(name)
        require(actor, Permission.VIEW_LEVEL4_OUTPUTS, workspace.project)
        return WorkspaceFiles(self.settings.workspaces_dir, workspace.name)

    def my_workspaces(self, actor: Actor) -> list[tuple[str, str]]:
        """(workspace, project) at this site for each project where `actor` may read Level 4 files."""
        found = []
        for project in sorted(actor.project_roles):
            if actor.can(Permission.VIEW_LEVEL4_OUTPUTS, project):
                found += [(w.name, project) for w in self.central.workspaces_here(project)]
        return found
