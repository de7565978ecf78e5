"""The one permission table: what each role may do, for the API and the pages alike.

Project roles count only inside their project; global roles and admin count everywhere. A
permission no role grants is public (anyone, logged in or not).
"""

from dataclasses import dataclass, field
from enum import StrEnum

from orchestrator.jobsite.models import GlobalRole, ProjectRole

ADMIN = "admin"
DEV, COLLAB = ProjectRole.DEVELOPER, ProjectRole.COLLABORATOR
CHECKER, PUBLISHER = GlobalRole.OUTPUT_CHECKER, GlobalRole.OUTPUT_PUBLISHER


class Permission(StrEnum):
    VIEW_PROJECTS = "view projects, workspaces, job requests and job states"
    CREATE_PROJECT = "create a project"
    EDIT_PROJECT = "edit a project's name, organisation and status"
    MANAGE_MEMBERS = "add and remove a project's members"
    MANAGE_PEOPLE = "create people and set their global roles"
    CREATE_WORKSPACE = "create a workspace"
    EDIT_WORKSPACE = "archive a workspace, change its branch, purpose or notifications"
    RUN_JOBS = "submit a job request"
    CANCEL_JOBS = "cancel a job request or its actions"
    VIEW_LEVEL4_OUTPUTS = "view Level 4 outputs at the site"
    CREATE_DRAFT_PUBLICATION = "create a draft publication"
    VIEW_RELEASED_OUTPUTS = "view released and draft public outputs"
    REVIEW_RELEASES = "review and release files, delete a file from a release"
    PUBLISH = "publish a draft"
    VIEW_RELEASE_LOG = "read who released, deleted, drafted and published a workspace's outputs"


# Who may: the roles that grant each permission. Empty = public.
PERMISSIONS: dict[Permission, frozenset[str]] = {
    Permission.VIEW_PROJECTS: frozenset(),
    Permission.CREATE_PROJECT: frozenset({ADMIN}),
    Permission.EDIT_PROJECT: frozenset({ADMIN}),
    Permission.MANAGE_MEMBERS: frozenset({ADMIN}),
    Permission.MANAGE_PEOPLE: frozenset({ADMIN}),
    Permission.CREATE_WORKSPACE: frozenset({DEV}),
    Permission.EDIT_WORKSPACE: frozenset({DEV}),
    Permission.RUN_JOBS: frozenset({DEV}),
    Permission.CANCEL_JOBS: frozenset({DEV}),
    Permission.VIEW_LEVEL4_OUTPUTS: frozenset({DEV}),
    Permission.CREATE_DRAFT_PUBLICATION: frozenset({DEV}),
    Permission.VIEW_RELEASED_OUTPUTS: frozenset({DEV, COLLAB}),
    Permission.REVIEW_RELEASES: frozenset({CHECKER}),
    Permission.PUBLISH: frozenset({PUBLISHER}),
    Permission.VIEW_RELEASE_LOG: frozenset({DEV, COLLAB, CHECKER, PUBLISHER, ADMIN}),
}
assert set(PERMISSIONS) == set(Permission), "every permission needs a row"


@dataclass(frozen=True)
class Actor:
    """Who is asking: a person with their roles, or nobody (user_id None: anonymous, or a site's token)."""

    user_id: str | None = None
    is_admin: bool = False
    global_roles: frozenset[str] = frozenset()
    project_roles: dict[str, frozenset[str]] = field(default_factory=dict)

    def roles_in(self, project: str | None) -> frozenset[str]:
        roles = set(self.global_roles) | ({ADMIN} if self.is_admin else set())
        if project is not None:
            roles |= self.project_roles.get(project, frozenset())
        return frozenset(roles)

    def can(self, permission: Permission, project: str | None = None) -> bool:
        needed = PERMISSIONS[permission]
        return not needed or bool(needed & self.roles_in(project))


ANONYMOUS = Actor()
