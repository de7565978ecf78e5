"""The jobs site's tables, beside the runtime's in the same database; its own Alembic revisions
(jobsite/migrations, version table `jobsite_alembic_version`) create them.

Runtime ids (users, sites, jobs, objects) are plain strings here, not foreign keys: the runtime's
schema evolves on its own, and the jobs site reads the runtime only through its store.
"""

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from orchestrator.runtime.schema import Json, UTCDateTime, _seq

metadata = MetaData()

projects = Table(
    "projects",
    metadata,
    _seq(),
    Column("slug", String(100), nullable=False, unique=True),
    Column("name", String(300), nullable=False),
    Column("org", String(300), nullable=False),
    Column("status", String(30), nullable=False),
    Column("status_description", Text, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

workspaces = Table(
    "workspaces",
    metadata,
    _seq(),
    Column("name", String(100), nullable=False, unique=True),
    Column("project", String(100), ForeignKey("projects.slug"), nullable=False),
    Column("repo", String(1000), nullable=False),
    Column("branch", String(250), nullable=False),
    Column("database", String(20), nullable=False),
    Column("purpose", Text, nullable=False),
    Column("archived", Boolean, nullable=False),
    Column("notifications_default", Boolean, nullable=False),
    Column("site_id", String(200), nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_workspaces_project_seq", "project", "seq"),
)

memberships = Table(
    "memberships",
    metadata,
    _seq(),
    Column("project", String(100), ForeignKey("projects.slug"), nullable=False),
    Column("user_id", String(200), nullable=False, index=True),
    Column("roles", Json, nullable=False),  # ProjectDeveloper, ProjectCollaborator
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("project", "user_id", name="uq_memberships_project_user"),
)

# What the jobs site knows of a person beyond the runtime's user: an email address for notifications and
# global roles (OutputChecker, OutputPublisher); admin is the runtime user's own flag.
people = Table(
    "people",
    metadata,
    Column("user_id", String(200), primary_key=True),
    Column("roles", Json, nullable=False),
    Column("email", String(320)),
    Column("updated_at", UTCDateTime, nullable=False),
)

# One study object per (repository, commit): the same commit archived twice is stored once.
study_commits = Table(
    "study_commits",
    metadata,
    Column("repo_key", String(64), primary_key=True),  # sha256 of the repository URL
    Column("commit", String(40), primary_key=True),
    Column("object_id", String(100), nullable=False),
)

job_requests = Table(
    "job_requests",
    metadata,
    _seq(),
    Column("id", String(100), nullable=False, unique=True),
    Column("workspace", String(100), ForeignKey("workspaces.name"), nullable=False),
    Column("project", String(100), nullable=False),
    Column("requested_actions", Json, nullable=False),
    Column("force_run_dependencies", Boolean, nullable=False),
    Column("will_notify", Boolean, nullable=False),
    Column("commit", String(40), nullable=False),
    Column("database", String(20), nullable=False),
    Column("site_id", String(200), nullable=False),
    Column("object_id", String(100), nullable=False),
    Column("job_id", String(100), nullable=False, unique=True),  # the runtime job that runs it
    Column("status", String(20), nullable=False),
    Column("status_message", Text, nullable=False),
    Column("cancelled_actions", Json, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_job_requests_workspace_seq", "workspace", "seq"),
    Index("ix_job_requests_project_seq", "project", "seq"),
)

# One row per action of a request that runs (or is waited on, or cancelled), kept in step with the
# runtime operation's per-action metadata by a listener inside the runtime's own transaction.
request_jobs = Table(
    "request_jobs",
    metadata,
    _seq(),
    Column("job_request_id", String(100), nullable=False),
    Column("action", String(200), nullable=False),
    Column("state", String(20), nullable=False),
    Column("decision", String(20), nullable=False),
    Column("status_code", String(40), nullable=False),
    Column("status_message", Text, nullable=False),
    Column("started_at", String(40)),
    Column("finished_at", String(40)),
    Column("log_exists", Boolean, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("job_request_id", "action", name="uq_request_jobs_request_action"),
)

# Emails to send, written in the transaction of the change they tell about; the sender marks them sent.
outbox = Table(
    "outbox",
    metadata,
    _seq(),
    Column("message_id", String(200), nullable=False, unique=True),
    Column("recipient", String(320), nullable=False),
    Column("subject", String(500), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime),
    Column("last_error", Text),
    Index("ix_outbox_unsent", "sent_at", "next_attempt_at"),
)

# A person's single-use login token for the airlock (one live token each: making one replaces the last).
# Only its scrypt hash is kept; `attempts` counts checks against it, so guessing burns it.
login_tokens = Table(
    "login_tokens",
    metadata,
    Column("user_id", String(200), primary_key=True),
    Column("token_hash", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("used_at", UTCDateTime),
    Column("used_by_site", String(200)),
)

# Files a site's airlock released (reviewed by two output checkers) into the runtime as objects of the
# restricted type `released-output`; recorded here against their workspace. `id` is the airlock's release
# request id, so a release retried after a lost reply is recorded once.
releases = Table(
    "releases",
    metadata,
    _seq(),
    Column("id", String(100), nullable=False, unique=True),
    Column("workspace", String(100), ForeignKey("workspaces.name"), nullable=False),
    Column("project", String(100), nullable=False),
    Column("site_id", String(200), nullable=False),
    Column("requested_by", String(200), nullable=False),
    Column("released_by", String(200), nullable=False),
    Column("reviewers", Json, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

released_files = Table(
    "released_files",
    metadata,
    _seq(),  # the file's id in the API
    Column("release_id", String(100), nullable=False),
    Column("workspace", String(100), nullable=False),
    Column("project", String(100), nullable=False),
    Column("path", String(1000), nullable=False),
    Column("object_id", String(100), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("released_at", UTCDateTime, nullable=False),
    Column("released_by", String(200), nullable=False),
    Column("deleted_at", UTCDateTime),  # a checker took it out of the release: gone from every view
    Column("deleted_by", String(200)),
    UniqueConstraint("release_id", "path", name="uq_released_files_release_path"),
    Index("ix_released_files_workspace_seq", "workspace", "seq"),
)

# A workspace's latest released files, drafted by a developer; an output publisher publishes (everyone
# may read it then) or rejects it.
publications = Table(
    "publications",
    metadata,
    _seq(),
    Column("id", String(100), nullable=False, unique=True),
    Column("workspace", String(100), ForeignKey("workspaces.name"), nullable=False),
    Column("project", String(100), nullable=False),
    Column("title", String(300), nullable=False),
    Column("status", String(20), nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("decided_by", String(200)),
    Column("decided_at", UTCDateTime),
    Index("ix_publications_workspace_seq", "workspace", "seq"),
)

publication_files = Table(
    "publication_files",
    metadata,
    Column("publication_id", String(100), primary_key=True),
    Column("file_seq", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
)

# Who did what to released outputs, when: releases recorded, files deleted, drafts made, published, rejected.
release_log = Table(
    "release_log",
    metadata,
    _seq(),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(40), nullable=False),
    Column("workspace", String(100), nullable=False),
    Column("release_id", String(100)),
    Column("file_seq", BigInteger().with_variant(Integer(), "sqlite")),
    Column("publication_id", String(100)),
    Column("detail", Text, nullable=False),
    Index("ix_release_log_workspace_seq", "workspace", "seq"),
)
