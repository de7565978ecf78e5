"""The airlock API's bodies and answers."""

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field

from orchestrator.jobsite.models import Person
from orchestrator.runtime.models import Request


class Login(Request):
    username: str = Field(min_length=1, max_length=200)
    token: str = Field(min_length=1, max_length=200, description="The three words the jobs site gave you.")


class SessionInfo(BaseModel):
    session: str = Field(description="Send it as a Bearer token (scripts) or keep the cookie (browsers).")
    person: Person


class WorkspaceSummary(BaseModel):
    name: str
    project: str


class FileSummary(BaseModel):
    path: str = Field(description="Relative to the workspace's level4/ directory.")
    size: int
    kind: Literal["csv", "image", "text", "other"]


class FileView(FileSummary):
    sha256: str
    content_url: str
    table: dict | None = None
    text: str | None = None
    truncated: bool = False


class RequestFileCreate(Request):
    path: str = Field(min_length=1, max_length=1000, description="A file under level4/, as listed.")
    reason: str = Field(min_length=1, max_length=5000, description="Why the file is needed outside.")


class ReleaseRequestCreate(Request):
    workspace: str = Field(min_length=1, max_length=100)
    files: list[RequestFileCreate] = Field(min_length=1, max_length=200)


class Decision(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"


class ReviewCreate(Request):
    path: str = Field(min_length=1, max_length=1000)
    decision: Decision
    comment: str = Field("", max_length=5000)


class Withdraw(Request):
    paths: list[str] | None = Field(
        None, max_length=200, description="Only these files; omitted or null: the whole request, for good."
    )


class ReturnRequest(Request):
    comment: str = Field("", max_length=5000)


class RequestStatus(StrEnum):
    SUBMITTED = "submitted"  # under review
    RETURNED = "returned"  # back with its author, who withdraws files and submits again
    WITHDRAWN = "withdrawn"
    RELEASING = "releasing"  # uploads under way; releasing again resumes them
    RELEASED = "released"


class Review(BaseModel):
    reviewer: str
    decision: Decision
    comment: str
    at: datetime


class RequestFile(BaseModel):
    path: str
    reason: str
    sha256: str
    size: int
    withdrawn: bool
    uploaded: bool
    object_id: str | None
    reviews: list[Review]


class ReleaseRequest(BaseModel):
    id: str
    workspace: str
    project: str
    author: str
    status: RequestStatus
    created_at: datetime
    updated_at: datetime
    released_by: str | None
    released_at: datetime | None
    files: list[RequestFile]


class AuditEntry(BaseModel):
    at: datetime
    actor: str
    action: str
    workspace: str | None
    request_id: str | None
    path: str | None
    detail: str
