"""The airlock's tables, in its own database at the site (ORCHESTRATOR_AIRLOCK_DATABASE_URL); its own
Alembic revisions (airlock/migrations, version table `airlock_alembic_version`) create them."""

from sqlalchemy import Boolean, Column, Index, Integer, MetaData, String, Table, Text, UniqueConstraint

from orchestrator.runtime.schema import Json, UTCDateTime, _seq

metadata = MetaData()

# A logged-in person: the sha256 of the session token (the token itself is only in their cookie), the
# roles the jobs site gave for them (refreshed now and then), and when it lapses unused.
sessions = Table(
    "airlock_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("username", String(200), nullable=False),
    Column("person", Json, nullable=False),
    Column("roles_read_at", UTCDateTime, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_used_at", UTCDateTime, nullable=False),
)

# Failed logins per key (a username, or an address) in the current window: the airlock's rate limit.
login_failures = Table(
    "airlock_login_failures",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("window_started_at", UTCDateTime, nullable=False),
)

release_requests = Table(
    "release_requests",
    metadata,
    _seq(),
    Column("id", String(100), nullable=False, unique=True),
    Column("workspace", String(100), nullable=False),
    Column("project", String(100), nullable=False),
    Column("author", String(200), nullable=False),
    Column("status", String(20), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("released_by", String(200)),
    Column("released_at", UTCDateTime),
    Index("ix_release_requests_status_seq", "status", "seq"),
)

# A file of a request: a copy of its bytes when it was asked for (what is reviewed is what leaves), and
# once the release begins, the runtime object that carries it (recorded before its bytes are sent, so a
# release resumed after a crash sends into the same object instead of making another).
request_files = Table(
    "request_files",
    metadata,
    _seq(),
    Column("request_id", String(100), nullable=False),
    Column("path", String(1000), nullable=False),
    Column("reason", Text, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("size", Integer, nullable=False),
    Column("withdrawn", Boolean, nullable=False),
    Column("object_id", String(100)),
    Column("uploaded", Boolean, nullable=False),
    UniqueConstraint("request_id", "path", name="uq_request_files_request_path"),
)

reviews = Table(
    "reviews",
    metadata,
    Column("request_id", String(100), primary_key=True),
    Column("path", String(1000), primary_key=True),
    Column("reviewer", String(200), primary_key=True),
    Column("decision", String(10), nullable=False),
    Column("comment", Text, nullable=False),
    Column("at", UTCDateTime, nullable=False),
)

# Every step, who and when: logins, files viewed, requests made, reviews, returns, withdrawals, releases.
audit_log = Table(
    "airlock_audit_log",
    metadata,
    _seq(),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(40), nullable=False),
    Column("workspace", String(100)),
    Column("request_id", String(100)),
    Column("path", String(1000)),
    Column("detail", Text, nullable=False),
    Index("ix_airlock_audit_log_request_seq", "request_id", "seq"),
)
