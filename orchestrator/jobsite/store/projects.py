"""Projects, their workspaces and members, and people's global roles and email addresses.

Who may change what is decided by the permission table (jobsite/permissions.py) before any write.
"""

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from orchestrator.jobsite import markdown
from orchestrator.jobsite import schema as t
from orchestrator.jobsite.git import GitError, check_branch, check_repo_url
from orchestrator.jobsite.models import (
    Membership,
    MembershipSet,
    Person,
    PersonCreate,
    PersonUpdate,
    Project,
    ProjectCreate,
    ProjectUpdate,
    Workspace,
    WorkspaceCreate,
    WorkspaceUpdate,
)
from orchestrator.jobsite.permissions import Actor, Permission
from orchestrator.jobsite.store.base import JobsiteBase, insert_ignoring_conflicts, model_of, require
from orchestrator.runtime.errors import Conflict, InvalidArgument, not_found
from orchestrator.runtime.models import Page, Principal
from orchestrator.runtime.schema import utcnow
from orchestrator.runtime.store.base import found
from orchestrator.runtime.store.rows import read_model


def _project(row) -> Project | None:
    values = dict(row._mapping)
    values["status_description_html"] = markdown.render(values.get("status_description") or "")
    return read_model(Project, values, "project")


_workspace = model_of(Workspace, "workspace")
_membership = model_of(Membership, "membership")


class ProjectStore(JobsiteBase):
    # ---- who is asking
    def actor(self, principal: Principal | None) -> Actor:
        """The roles of the person behind `principal`; a site or nobody has none."""
        if principal is None or principal.kind != "user":
            return Actor()
        with self.read() as conn:
            person = conn.execute(select(t.people.c.roles).where(t.people.c.user_id == principal.id)).first()
            member_rows = conn.execute(
                select(t.memberships.c.project, t.memberships.c.roles).where(t.memberships.c.user_id == principal.id)
            ).all()
        return Actor(
            user_id=principal.id,
            is_admin=principal.is_admin,
            global_roles=frozenset(_strings(person.roles) if person else ()),
            project_roles={row.project: frozenset(_strings(row.roles)) for row in member_rows},
        )

    def actor_for(self, username: str, is_admin: bool = False) -> Actor:
        return self.actor(Principal(kind="user", id=username, is_admin=is_admin))

    # ---- projects
    def create_project(self, spec: ProjectCreate, actor: Actor) -> Project:
        require(actor, Permission.CREATE_PROJECT)
        now = utcnow()
        try:
            with self.write() as conn:
                conn.execute(
                    insert(t.projects).values(
                        **spec.model_dump(), created_by=actor.user_id, created_at=now, updated_at=now
                    )
                )
        except IntegrityError:
            raise Conflict(
                "ALREADY_EXISTS", f"A project with slug {spec.slug!r} already exists.", {"slug": spec.slug}
            ) from None
        return self.get_project(spec.slug)

    def update_project(self, slug: str, change: ProjectUpdate, actor: Actor) -> Project:
        require(actor, Permission.EDIT_PROJECT, slug)
        values = change.model_dump(exclude_unset=True, exclude_none=True)
        self.get_project(slug)
        if values:
            with self.write() as conn:
                conn.execute(update(t.projects).where(t.projects.c.slug == slug).values(**values, updated_at=utcnow()))
        return self.get_project(slug)

    def get_project(self, slug: str) -> Project:
        with self.read() as conn:
            row = conn.execute(select(t.projects).where(t.projects.c.slug == slug)).first()
        if row is None:
            raise not_found("project", slug)
        return found(_project(row), "project", slug)

    def list_projects(self, after_seq: int = 0, limit: int = 100) -> Page[Project]:
        return self.page(t.projects, _project, after_seq, limit)

    # ---- workspaces
    def create_workspace(self, project: str, spec: WorkspaceCreate, actor: Actor) -> Workspace:
        require(actor, Permission.CREATE_WORKSPACE, project)
        self.get_project(project)
        _check_git_names(spec.repo, spec.branch)
        self.runtime.get_site(spec.site_id)  # 404 SITE_NOT_FOUND names it
        now = utcnow()
        try:
            with self.write() as conn:
                conn.execute(
                    insert(t.workspaces).values(
                        **spec.model_dump(),
                        project=project,
                        archived=False,
                        created_by=actor.user_id,
                        created_at=now,
                        updated_at=now,
                    )
                )
        except IntegrityError:
            raise Conflict(
                "ALREADY_EXISTS",
                f"A workspace named {spec.name!r} already exists (names are unique across projects).",
                {"name": spec.name},
            ) from None
        return self.get_workspace(spec.name)

    def update_workspace(self, name: str, change: WorkspaceUpdate, actor: Actor) -> Workspace:
        workspace = self.get_workspace(name)
        require(actor, Permission.EDIT_WORKSPACE, workspace.project)
        if change.branch is not None:
            _check_git_names(workspace.repo, change.branch)
        values = change.model_dump(exclude_unset=True, exclude_none=True)
        if values:
            with self.write() as conn:
                conn.execute(
                    update(t.workspaces).where(t.workspaces.c.name == name).values(**values, updated_at=utcnow())
                )
        return self.get_workspace(name)

    def get_workspace(self, name: str) -> Workspace:
        with self.read() as conn:
            row = conn.execute(select(t.workspaces).where(t.workspaces.c.name == name)).first()
        if row is None:
            raise not_found("workspace", name)
        return found(_workspace(row), "workspace", name)

    def list_workspaces(self, project: str, after_seq: int = 0, limit: int = 100) -> Page[Workspace]:
        self.get_project(project)
        return self.page(t.workspaces, _workspace, after_seq, limit, t.workspaces.c.project == project)

    # ---- members
    def set_membership(self, project: str, user_id: str, spec: MembershipSet, actor: Actor) -> Membership:
        require(actor, Permission.MANAGE_MEMBERS, project)
        self.get_project(project)
        self.runtime.get_user(user_id)
        roles = sorted({role.value for role in spec.roles})
        with self.write() as conn:
            hit = conn.execute(
                update(t.memberships)
                .where(t.memberships.c.project == project, t.memberships.c.user_id == user_id)
                .values(roles=roles)
            ).rowcount
            if not hit:
                insert_ignoring_conflicts(
                    conn,
                    t.memberships,
                    {"project": project, "user_id": user_id, "roles": roles, "created_at": utcnow()},
                    "project",
                    "user_id",
                )
        return self._membership(project, user_id)

    def remove_membership(self, project: str, user_id: str, actor: Actor) -> None:
        require(actor, Permission.MANAGE_MEMBERS, project)
        with self.write() as conn:
            gone = conn.execute(
                delete(t.memberships).where(t.memberships.c.project == project, t.memberships.c.user_id == user_id)
            ).rowcount
        if not gone:
            raise not_found("membership", f"{project}/{user_id}")

    def _membership(self, project: str, user_id: str) -> Membership:
        with self.read() as conn:
            row = conn.execute(
                select(t.memberships).where(t.memberships.c.project == project, t.memberships.c.user_id == user_id)
            ).first()
        if row is None:
            raise not_found("membership", f"{project}/{user_id}")
        return found(_membership(row), "membership", f"{project}/{user_id}")

    def list_members(self, project: str, after_seq: int = 0, limit: int = 100) -> Page[Membership]:
        self.get_project(project)
        return self.page(t.memberships, _membership, after_seq, limit, t.memberships.c.project == project)

    # ---- people
    def create_person(self, spec: PersonCreate, actor: Actor) -> Person:
        require(actor, Permission.MANAGE_PEOPLE)
        self.runtime.create_user(spec.username, spec.password)
        self._save_person(spec.username, email=spec.email, roles=spec.roles)
        return self.get_person(spec.username, actor)

    def update_person(self, username: str, change: PersonUpdate, actor: Actor) -> Person:
        if change.roles is not None:
            require(actor, Permission.MANAGE_PEOPLE)
        elif actor.user_id != username:
            require(actor, Permission.MANAGE_PEOPLE)  # only you (or an admin) change your email
        self.runtime.get_user(username)
        values = change.model_dump(exclude_unset=True)
        self._save_person(username, **values)
        return self.get_person(username, actor)

    def _save_person(self, username: str, **values) -> None:
        if "roles" in values and values["roles"] is not None:
            values["roles"] = sorted({str(role) for role in values["roles"]})
        else:
            values.pop("roles", None)
        with self.write() as conn:
            hit = conn.execute(
                update(t.people).where(t.people.c.user_id == username).values(**values, updated_at=utcnow())
            ).rowcount
            if not hit:
                insert_ignoring_conflicts(
                    conn,
                    t.people,
                    {"roles": [], "email": None, **values, "user_id": username, "updated_at": utcnow()},
                    "user_id",
                )

    def get_person(self, username: str, actor: Actor) -> Person:
        """A person with their roles; their email only to themselves and admins."""
        user = self.runtime.get_user(username)
        with self.read() as conn:
            person = conn.execute(select(t.people).where(t.people.c.user_id == username)).first()
            member_rows = conn.execute(select(t.memberships).where(t.memberships.c.user_id == username)).all()
        show_email = actor.user_id == username or actor.is_admin
        return Person(
            username=username,
            email=person.email if person is not None and show_email else None,
            roles=_strings(person.roles) if person is not None else [],
            is_admin=user.is_admin,
            memberships={row.project: _strings(row.roles) for row in member_rows},
        )

    def email_of(self, conn, username: str) -> str | None:
        return conn.execute(select(t.people.c.email).where(t.people.c.user_id == username)).scalar()


def _check_git_names(repo: str, branch: str) -> None:
    """A repository URL git would not fetch from (ext::, options) or a branch that is no name: 422 now,
    not at the first job request."""
    try:
        check_repo_url(repo)
        check_branch(branch)
    except GitError as error:
        raise InvalidArgument(error.code, error.message, {"repo": repo, "branch": branch}) from None


def _strings(value) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []
