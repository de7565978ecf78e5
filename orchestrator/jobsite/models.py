"""Pydantic models of the jobs site's resources: what its API accepts and returns.

Request models forbid unknown fields (a typo is a 422 naming the field), as the runtime's do.
"""

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AliasChoices, BaseModel, Field, StringConstraints, field_validator

from orchestrator.runtime.models import Identifier, Request

Slug = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[a-z0-9][a-z0-9-]*$")]
# A workspace name is also a directory name at its site (pipeline.Workspace.open).
WorkspaceName = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
ActionName = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Email = Annotated[str, StringConstraints(max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")]
RUN_ALL = "run_all"


class ProjectStatus(StrEnum):
    """OpenSAFELY's six project statuses."""

    ONGOING = "ongoing"
    POSTPONED = "postponed"
    RETIRED = "retired"
    ONGOING_LINKED = "ongoing-linked"
    COMPLETED_LINKED = "completed-linked"
    COMPLETED_AWAITING = "completed-awaiting"


class Database(StrEnum):
    FULL = "full"
    SAMPLE = "sample"  # OpenSAFELY's ~20% sample of the full database


class ProjectCreate(Request):
    slug: Slug
    name: str = Field(min_length=1, max_length=300)
    org: str = Field(min_length=1, max_length=300)
    status: ProjectStatus = ProjectStatus.ONGOING
    status_description: str = Field("", max_length=20_000, description="Markdown; served raw and rendered safely.")


class ProjectUpdate(Request):
    name: str | None = Field(None, min_length=1, max_length=300)
    org: str | None = Field(None, min_length=1, max_length=300)
    status: ProjectStatus | None = None
    status_description: str | None = Field(None, max_length=20_000)


class Project(BaseModel):
    slug: str
    name: str
    org: str
    status: ProjectStatus
    status_description: str
    status_description_html: str = Field(
        description="The Markdown rendered to HTML with raw HTML and unsafe links removed."
    )
    created_at: datetime
    updated_at: datetime
    seq: int


class WorkspaceCreate(Request):
    name: WorkspaceName
    repo: str = Field(min_length=1, max_length=1000, description="A git URL: https://, ssh://, file:// or a path.")
    branch: str = Field(min_length=1, max_length=250)
    database: Database = Database.FULL
    purpose: str = Field("", max_length=5000)
    notifications_default: bool = False
    site_id: Identifier = Field(description="The site (backend) where the workspace's jobs run and its files live.")


class WorkspaceUpdate(Request):
    archived: bool | None = None
    purpose: str | None = Field(None, max_length=5000)
    notifications_default: bool | None = None
    branch: str | None = Field(None, min_length=1, max_length=250)


class Workspace(BaseModel):
    name: str
    project: str
    repo: str
    branch: str
    database: Database
    purpose: str
    archived: bool
    notifications_default: bool
    site_id: str
    created_by: str
    created_at: datetime
    updated_at: datetime
    seq: int


class ProjectRole(StrEnum):
    DEVELOPER = "ProjectDeveloper"
    COLLABORATOR = "ProjectCollaborator"


class GlobalRole(StrEnum):
    OUTPUT_CHECKER = "OutputChecker"
    OUTPUT_PUBLISHER = "OutputPublisher"


class MembershipSet(Request):
    roles: list[ProjectRole] = Field(min_length=1)


class Membership(BaseModel):
    project: str
    user_id: str
    roles: list[ProjectRole]
    created_at: datetime


class PersonCreate(Request):
    username: Identifier
    password: str = Field(min_length=8, max_length=1000)
    email: Email | None = None
    roles: list[GlobalRole] = []


class PersonUpdate(Request):
    email: Email | None = None
    roles: list[GlobalRole] | None = None


class Person(BaseModel):
    username: str
    email: str | None
    roles: list[GlobalRole]
    is_admin: bool
    memberships: dict[str, list[ProjectRole]] = Field(description="Project slug -> roles in it.")


class JobRequestCreate(Request):
    id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{7,63}$")] | None = Field(
        None,
        description="A key you choose (8-64 letters, digits, _ or -) so that a retried submit returns the same "
        "request instead of making a second one; generated when omitted.",
    )
    workspace: WorkspaceName
    requested_actions: list[ActionName] = Field(
        min_length=1, max_length=1000, description=f"Action names, or [{RUN_ALL!r}]."
    )
    force_run_dependencies: bool = False
    will_notify: bool | None = Field(None, description="Email you as each job completes; default: the workspace's.")

    @field_validator("requested_actions")
    @classmethod
    def _unique(cls, names: list[str]) -> list[str]:
        return list(dict.fromkeys(names))


class CancelRequest(Request):
    actions: list[ActionName] | None = Field(None, description="Cancel only these actions; omit to cancel the request.")


RequestStatus = Literal["pending", "running", "succeeded", "failed", "cancelled", "nothing_to_do"]
JobState = Literal["pending", "running", "succeeded", "failed"]


class RequestJob(BaseModel):
    """One action of a request that runs (or is waited on, or was cancelled)."""

    action: str
    state: JobState
    decision: str = Field(description="What the site's planner decided: run, wait or cancel.")
    status_code: str
    status_message: str
    started_at: str | None
    finished_at: str | None
    log_exists: bool = Field(description="Whether the action's log exists at the site (logs never leave it).")


class JobRequest(BaseModel):
    id: str
    workspace: str
    project: str
    requested_actions: list[str]
    force_run_dependencies: bool
    will_notify: bool
    commit: str
    database: Database
    site_id: str
    job_id: str
    status: RequestStatus
    status_message: str
    cancelled_actions: list[str]
    created_by: str
    created_at: datetime
    updated_at: datetime
    seq: int
    jobs: list[RequestJob] | None = Field(None, description="Present when one request is read, absent in lists.")


class LoginToken(BaseModel):
    username: str
    token: str = Field(description="Three words, shown once: type them at the airlock's login.")
    expires_at: datetime


class LoginTokenRedeem(Request):
    username: str = Field(min_length=1, max_length=200)
    token: str = Field(min_length=1, max_length=200, description="The three words, in any case and spacing.")


# ---- released outputs and publications
MAX_RELEASED_FILE_BYTES = 16 * 1024 * 1024
RelativePath = Annotated[str, StringConstraints(min_length=1, max_length=1000)]


class ReleaseFileCreate(Request):
    path: RelativePath = Field(description="The file's path in the workspace, e.g. output/table.csv.")
    object_id: str = Field(min_length=1, max_length=100, description="The released-output object holding its bytes.")


class ReleaseCreate(Request):
    id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")] = Field(
        description="The airlock's release request id: recording it again returns the first record."
    )
    workspace: str = Field(min_length=1, max_length=100)
    requested_by: str = Field(min_length=1, max_length=200, description="The developer who asked for the release.")
    released_by: str = Field(min_length=1, max_length=200, description="The output checker who released it.")
    reviewers: list[Annotated[str, StringConstraints(min_length=1, max_length=200)]] = Field(
        min_length=2, max_length=20, description="The output checkers who approved every file (two at least)."
    )
    files: list[ReleaseFileCreate] = Field(min_length=1, max_length=1000)


class ReleasedFile(BaseModel):
    id: int = Field(validation_alias=AliasChoices("id", "seq"))
    release_id: str
    workspace: str
    project: str
    path: str
    sha256: str
    size: int
    released_at: datetime
    released_by: str


class Release(BaseModel):
    id: str
    workspace: str
    project: str
    site_id: str
    requested_by: str
    released_by: str
    reviewers: list[str]
    created_at: datetime
    files: list[ReleasedFile]


class PublicationStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    REJECTED = "rejected"


class PublicationCreate(Request):
    title: str = Field("", max_length=300)


class Publication(BaseModel):
    id: str
    workspace: str
    project: str
    title: str
    status: PublicationStatus
    created_by: str
    created_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    files: list[ReleasedFile]


class ReleaseLogEntry(BaseModel):
    seq: int
    at: datetime
    actor: str
    action: str
    workspace: str
    release_id: str | None
    file_id: int | None = Field(validation_alias=AliasChoices("file_id", "file_seq"))
    publication_id: str | None
    detail: str
