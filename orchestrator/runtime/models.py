"""Pydantic models of the runtime's resources: what the API accepts and returns.

Request models forbid unknown fields, so a typo is a 422 naming the field rather than a silently
ignored setting.
"""

import hashlib
import re
from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from orchestrator.runtime.jsonsafe import MEDIA_TYPE, json_problem

IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]*")
Identifier = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=f"^{IDENTIFIER.pattern}$")]
# Job and operation ids are stored in 100 characters (generated ones take 28).
JobIdentifier = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=f"^{IDENTIFIER.pattern}$")]
JobStatus = Literal["open", "claimed", "succeeded", "failed", "cancelled"]
# A named part of a job that can be cancelled on its own (a pipeline job's action).
PartName = Annotated[str, StringConstraints(min_length=1, max_length=200)]
T = TypeVar("T")


class Model(BaseModel):
    # Each model's validator is built when first used, not when this module is imported: a run worker
    # (a process per Dagster run) imports every model but uses three, and building all took ~30 ms.
    model_config = ConfigDict(defer_build=True)


class Request(Model):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, data: Any) -> Any:
        # The API's guard refuses these first; this catches callers of the store that bypass HTTP.
        problem = json_problem(data)
        if problem:
            raise ValueError(problem.message)
        return data


class Page(Model, Generic[T]):
    items: list[T]
    next_after_seq: int | None = Field(
        None, description="Pass as after_seq for the next page; null when this page is the last."
    )
    next_before_seq: int | None = Field(
        None,
        description="Newest-first pages (before_seq given): pass as before_seq for the next, older page; "
        "null when this page is the last.",
    )


class ObjectType(Request):
    id: Identifier
    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    restricted: bool = Field(
        False,
        description="Objects of this type are made, listed and read only by admins and sites; people reach "
        "them through a layer with its own rules (the jobs site's released outputs).",
    )


class Workflow(Request):
    id: Identifier
    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    dagster_job: Identifier
    capability_ids: list[Identifier] = []


class Trigger(Request):
    id: Identifier
    object_type_id: Identifier
    workflow_id: Identifier
    config: dict[str, Any] = {}


class Checksum(Model):
    type: str = Field(min_length=1, max_length=50)
    checksum: str = Field(min_length=1, max_length=200)


class ObjectCreate(Request):
    name: str = Field(min_length=1, max_length=500)
    description: str = ""
    types: list[Identifier] = Field(min_length=1)
    size: int = Field(ge=0)
    checksums: list[Checksum] = Field(min_length=1, description="Must include a sha256 checksum of the bytes.")
    mime_type: str = Field(
        "application/octet-stream",
        max_length=200,
        description="A media type, type/subtype[; name=value]...; it is the Content-Type of downloads.",
    )

    @field_validator("mime_type")
    @classmethod
    def _media_type(cls, value: str) -> str:
        if not MEDIA_TYPE.fullmatch(value):
            raise ValueError(
                "must be a media type like 'text/plain; charset=utf-8' (ASCII, type/subtype[; name=value])"
            )
        return value

    @field_validator("checksums")
    @classmethod
    def _has_sha256(cls, checksums: list[Checksum]) -> list[Checksum]:
        sha = [c.checksum for c in checksums if c.type == "sha256"]
        if len(sha) != 1 or len(sha[0]) != 64 or any(ch not in "0123456789abcdef" for ch in sha[0]):
            raise ValueError("exactly one checksum of type 'sha256' (64 lowercase hex digits) is required")
        return checksums

    @property
    def sha256(self) -> str:
        return next(c.checksum for c in self.checksums if c.type == "sha256")


class Object(Model):
    id: str
    name: str
    description: str
    types: list[str]
    size: int
    checksums: list[Checksum]
    mime_type: str
    created_time: datetime
    site_id: str | None
    status: Literal["pending", "ready"] = Field(description="pending until its bytes are uploaded and verified")
    seq: int | None

    def checksums_sha256(self) -> str:
        return next(c.checksum for c in self.checksums if c.type == "sha256")


def job_id_for(workflow_id: str, inputs: list[str]) -> str:
    """The same workflow on the same inputs is the same job: creating it twice is a no-op. (Here, not in the
    store, so a client can name a trigger's job before it exists without importing the store.)"""
    key = "\0".join([workflow_id, *sorted(inputs)])
    return "job-" + hashlib.sha256(key.encode()).hexdigest()[:24]


class JobCreate(Request):
    id: JobIdentifier | None = Field(None, description="Defaults to a deterministic id from workflow and inputs.")
    workflow_id: Identifier
    inputs: list[Identifier] = Field([], description="Ids of the objects the job reads.")
    config: dict[str, Any] = {}
    max_attempts: int = Field(3, ge=1, le=100)
    site_id: Identifier | None = Field(
        None,
        description="Only this site may claim the job; null: any site with the workflow's capabilities. "
        "Part of the job's definition, like config.",
    )
    share: JobIdentifier | None = Field(
        None,
        description="Fair share (the jobs site gives a job request's workspace): a claim prefers open jobs of "
        "the shares with the fewest jobs of the workflow claimed, oldest first within a share; jobs without "
        "a share form one share. Scheduling only: not part of the definition.",
    )


class Job(Model):
    id: str
    workflow_id: str
    inputs: list[str]
    config: dict[str, Any]
    status: JobStatus
    attempts: int
    max_attempts: int
    operation_id: str | None
    site_id: str | None = Field(None, description="The one site that may claim it; null: any capable site.")
    cancelled_parts: list[str] = Field(
        [], description="Parts (e.g. pipeline actions) cancelled on their own while the job goes on, in order."
    )
    share: str | None = Field(None, description="Its fair share (a workspace); null: the share of jobs without.")
    created_at: datetime
    updated_at: datetime
    seq: int


class ClaimRequest(Request):
    lease_seconds: int | None = Field(None, ge=1, le=3600)


MAX_JOBS_PER_CLAIM = 100


class ClaimNextRequest(Request):
    workflow_id: Identifier
    max_jobs: int = Field(
        1,
        ge=1,
        le=MAX_JOBS_PER_CLAIM,
        description="Claim up to this many open jobs: oldest first, from the least busy share first.",
    )
    lease_seconds: int | None = Field(None, ge=1, le=3600)
    claim_token: str | None = Field(
        None,
        min_length=8,
        max_length=64,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="An idempotency key: the same request again (a retry after a lost "
        "reply) returns the operations it already made instead of claiming more.",
    )


class ClaimedOperations(Model):
    operations: list["Operation"]


class CancelRequest(Request):
    parts: list[PartName] | None = Field(
        None,
        min_length=1,
        max_length=1000,
        description="Cancel only these parts: they are added to the job's cancelled_parts and the job goes on. "
        "Without parts (or without a body) the whole job is cancelled.",
    )


class ReleaseRequest(Request):
    operation_id: JobIdentifier | None = Field(
        None, description="Release only if this operation still holds the job (409 otherwise)."
    )


class ErrorInfo(Request):
    code: str = Field(min_length=1, max_length=100)
    message: str = Field(max_length=10_000)
    details: dict[str, Any] = {}


class OperationPatch(Request):
    done: bool | None = None
    result: dict[str, Any] | None = None
    error: ErrorInfo | None = None
    metadata: dict[str, Any] | None = Field(None, description="Merged into the operation's metadata (top-level keys).")
    lease_seconds: int | None = Field(
        None,
        ge=1,
        le=3600,
        description="Renew the lease by this long from now; default: the operation's lease_seconds (as claimed).",
    )


class Operation(Model):
    id: str
    job_id: str
    site_id: str
    done: bool
    result: dict[str, Any] | None
    error: dict[str, Any] | None
    metadata: dict[str, Any]
    lease_expires_at: datetime
    lease_seconds: int = Field(description="How long each renewal (heartbeat or report) extends the lease.")
    cancel_requested: bool
    created_at: datetime
    updated_at: datetime
    seq: int
    share: str | None = Field(None, description="Its job's share (a jobs site's workspace) when it was claimed.")


class SiteLoad(Request):
    """How busy a site is, as it reports in its heartbeats: its runs of runtime jobs."""

    running: int = Field(0, ge=0, description="Runs started or starting.")
    queued: int = Field(0, ge=0, description="Runs waiting to start.")


class Heartbeat(Request):
    operation_ids: list[Identifier] = Field(
        max_length=1000, description="May be empty: the site is alive all the same."
    )
    lease_seconds: int | None = Field(None, ge=1, le=3600)
    site_status: SiteLoad | None = Field(None, description="The site's load; every heartbeat marks the site seen.")


class LeaseState(Model):
    id: str
    done: bool
    cancel_requested: bool
    lease_expires_at: datetime
    error: dict[str, Any] | None
    cancelled_parts: list[str] = Field([], description="The job's cancelled parts: the run should stop these.")


class SiteCreate(Request):
    id: Identifier
    capability_ids: list[Identifier] = []


class Site(Model):
    id: str
    capability_ids: list[str]
    created_at: datetime
    paused: bool = Field(False, description="Claims nothing new; its running jobs finish.")
    maintenance: bool = Field(False, description="Database maintenance: its database actions wait.")
    last_seen_at: datetime | None = Field(None, description="Its last heartbeat; null if it never sent one.")
    seq: int


class SiteStatus(Model):
    """A site's health, from its heartbeats, for people and monitors."""

    site_id: str
    last_seen_at: datetime | None
    running: int
    queued: int
    paused: bool
    maintenance: bool = False
    up: bool = Field(description="Seen within the runtime's site_down_after_seconds.")


class Credentials(Model):
    site_id: str
    client_id: str
    client_secret: str


class SiteClient(Model):
    """A site's client credentials as an admin sees them: never the secret."""

    client_id: str
    site_id: str
    created_at: datetime
    seq: int


class Token(Model):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


class Principal(Model):
    kind: Literal["site", "user"]
    id: str
    is_admin: bool = False
    token_hash: str | None = None


# ---- the metadata store
COLLECTION_PATTERN = r"^[a-z][a-z0-9_]{0,99}$"
Collection = Annotated[str, StringConstraints(pattern=COLLECTION_PATTERN)]


class MetadataDocument(Model):
    collection: str
    id: str
    document: dict[str, Any]
    version: int = Field(description="1 when ingested; each change adds one.")
    created_at: datetime
    updated_at: datetime
    updated_by: str
    seq: int


class MetadataCollection(Model):
    name: str
    count: int


class IngestRequest(Request):
    object_id: JobIdentifier = Field(
        description="An object holding a document set: {collection: [document, ...], ...}, each document with an id."
    )
    replace: bool = Field(False, description="Replace documents whose id exists; otherwise their ids fail it (409).")
    operation_id: JobIdentifier | None = Field(
        None, description="The site's live operation this ingest belongs to (required of a site)."
    )


class IngestResult(Model):
    inserted: dict[str, list[str]] = Field(description="Per collection, the ids of the new documents.")
    replaced: dict[str, list[str]] = Field(description="Per collection, the ids of the documents replaced.")


class ChangedDocument(Model):
    collection: str
    id: str
    version: int = Field(description="The document's version once the changesheet is applied.")
    before: dict[str, Any]
    after: dict[str, Any]


class ChangesheetCheck(Model):
    valid: bool
    rows: int
    problems: list[dict[str, Any]] = Field(description="Every problem, each {line, id, message}, at most 200 listed.")
    problem_count: int
    changes: list[ChangedDocument] = Field(description="What applying it now would change (when valid).")


class ApplyChangesheet(Request):
    object_id: JobIdentifier = Field(description="The `metadata-changesheet` object to apply.")
    schema_name: str = Field(
        "study-metadata", alias="schema", description="The JSON Schema each changed document must pass."
    )
    operation_id: JobIdentifier | None = Field(None, description="The site's live operation (required of a site).")


class ChangesheetResult(Model):
    changes: list[ChangedDocument]
