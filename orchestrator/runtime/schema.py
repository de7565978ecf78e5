"""The runtime's tables in SQLAlchemy Core; Alembic migrations create them (migrations/versions).

Every table has a `seq` for cursor pagination. Object `seq`s come from a counter row that is
locked until commit, so objects become visible in `seq` order and a cursor never skips one.
"""

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB


class UTCDateTime(TypeDecorator):
    """Stores naive UTC on both backends and always hands back aware UTC datetimes."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is not None:
            value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value


def utcnow() -> datetime:
    return datetime.now(UTC)


class StoredJson(TypeDecorator):
    """JSON (JSONB on PostgreSQL). SQLite keeps JSON as text, so a row written around the API may hold text
    that does not parse; it reads as a marker object instead of failing the whole query it is in."""

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect):
        return dialect.type_descriptor(JSONB() if dialect.name == "postgresql" else JSON())

    def result_processor(self, dialect, coltype):
        load = self.load_dialect_impl(dialect).result_processor(dialect, coltype)
        if load is None:  # the driver parses it (psycopg2 and jsonb), and jsonb holds only valid JSON
            return None

        def process(value):
            try:
                return load(value)
            except ValueError:
                return {"_unreadable": "NOT_JSON: the stored text is not JSON"}

        return process


Json = StoredJson()
metadata = MetaData()


def _seq() -> Column:
    return Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)


counters = Table(
    "counters",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", BigInteger, nullable=False),
)

object_types = Table(
    "object_types",
    metadata,
    _seq(),
    Column("id", String(200), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("description", Text, nullable=False, default=""),
    # Objects of a restricted type are seen only by admins and sites (a layer above serves them to people).
    Column("restricted", Boolean, nullable=False, default=False, server_default=false()),
)

workflows = Table(
    "workflows",
    metadata,
    _seq(),
    Column("id", String(200), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("dagster_job", String(200), nullable=False),
    Column("capability_ids", Json, nullable=False),
)

triggers = Table(
    "triggers",
    metadata,
    _seq(),
    Column("id", String(200), nullable=False, unique=True),
    Column("object_type_id", String(200), ForeignKey("object_types.id"), nullable=False, index=True),
    Column("workflow_id", String(200), ForeignKey("workflows.id"), nullable=False),
    Column("config", Json, nullable=False),
)

sites = Table(
    "sites",
    metadata,
    _seq(),
    Column("id", String(200), nullable=False, unique=True),
    Column("capability_ids", Json, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    # From its heartbeats: when it was last seen, and its load then ({"running": n, "queued": n}).
    Column("last_seen_at", UTCDateTime),
    Column("status", Json, nullable=False, server_default=text("""'{"running": 0, "queued": 0}'""")),
    Column("paused", Boolean, nullable=False, server_default=false()),
    # Database maintenance: the site's database actions are stopped and wait; the others go on.
    Column("maintenance", Boolean, nullable=False, server_default=false()),
)

site_clients = Table(
    "site_clients",
    metadata,
    _seq(),
    Column("client_id", String(100), nullable=False, unique=True),
    Column("site_id", String(200), ForeignKey("sites.id"), nullable=False, index=True),
    Column("hashed_secret", String(300), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

users = Table(
    "users",
    metadata,
    _seq(),
    Column("id", String(200), nullable=False, unique=True),
    Column("hashed_password", String(300), nullable=False),
    Column("is_admin", Boolean, nullable=False, default=False),
    Column("created_at", UTCDateTime, nullable=False),
)

tokens = Table(
    "tokens",
    metadata,
    _seq(),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("principal_kind", String(10), nullable=False),  # "site" or "user"
    Column("principal_id", String(200), nullable=False),
    Column("client_id", String(100)),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("revoked", Boolean, nullable=False, default=False),
    Column("created_at", UTCDateTime, nullable=False),
)

# Failed logins per key (a sha256 of who and/or from where) in a fixed window; in the database so every
# server worker counts the same failures.
login_failures = Table(
    "login_failures",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("window_start", UTCDateTime, nullable=False, index=True),
    Column("failures", Integer, nullable=False),
)

# An upload reserves an object id until its bytes arrive and match; only then is there an object.
uploads = Table(
    "uploads",
    metadata,
    _seq(),
    Column("id", String(100), nullable=False, unique=True),
    Column("spec", Json, nullable=False),
    Column("created_by", String(210), nullable=False),  # "site:" or "user:" + an id of up to 200
    Column("site_id", String(200)),
    Column("created_at", UTCDateTime, nullable=False),
)

objects = Table(
    "objects",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("id", String(100), nullable=False, unique=True),
    Column("name", String(500), nullable=False),
    Column("description", Text, nullable=False),
    Column("types", Json, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("checksums", Json, nullable=False),
    Column("mime_type", String(200), nullable=False),
    Column("site_id", String(200)),
    Column("created_by", String(210), nullable=False),  # "site:" or "user:" + an id of up to 200
    Column("created_time", UTCDateTime, nullable=False),
)

# One row per (type, object) so "objects of these types after seq N" is an index range scan.
object_type_links = Table(
    "object_type_links",
    metadata,
    Column("type_id", String(200), primary_key=True),
    Column("object_seq", BigInteger, primary_key=True),
)

jobs = Table(
    "jobs",
    metadata,
    _seq(),
    Column("id", String(100), nullable=False, unique=True),
    Column("workflow_id", String(200), ForeignKey("workflows.id"), nullable=False),
    Column("inputs", Json, nullable=False),
    Column("config", Json, nullable=False),
    Column("status", String(20), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("max_attempts", Integer, nullable=False),
    Column("operation_id", String(100)),
    Column("created_by", String(210), nullable=False),  # "site:" or "user:" + an id of up to 200
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # Only this site may claim the job (NULL: any site with the capabilities). No foreign key, like
    # operations.site_id: the store checks the site exists, and sites are never deleted.
    Column("site_id", String(200)),
    Column("cancelled_parts", Json, nullable=False, server_default=text("'[]'")),
    # Fair shares: a claim prefers open jobs whose share (a workspace) has the fewest claimed (NULL: one share).
    Column("share", String(100)),
    # claimNext walks it in seq order for (status, workflow) and filters site_id on the rows it meets.
    Index("ix_jobs_status_workflow_seq", "status", "workflow_id", "seq"),
    # Whether a workflow has open jobs with shares (then claims take the fair path), and their heads.
    Index(
        "ix_jobs_open_share",
        "workflow_id",
        "share",
        "seq",
        postgresql_where=text("status = 'open' AND share IS NOT NULL"),
        sqlite_where=text("status = 'open' AND share IS NOT NULL"),
    ),
)

operations = Table(
    "operations",
    metadata,
    _seq(),
    Column("id", String(100), nullable=False, unique=True),
    Column("job_id", String(100), ForeignKey("jobs.id"), nullable=False, index=True),
    Column("site_id", String(200), nullable=False),
    Column("done", Boolean, nullable=False, default=False),
    Column("result", Json),
    Column("error", Json),
    Column("metadata", Json, nullable=False),
    Column("lease_expires_at", UTCDateTime, nullable=False),
    Column("lease_seconds", Integer, nullable=False),  # what a report without its own lease_seconds renews by
    Column("cancel_requested", Boolean, nullable=False, default=False),
    Column("claim_token", String(64)),  # the idempotency key of the claimNext request that made it
    Column("share", String(100)),  # its job's share when claimed, for the site's run tags
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_operations_done_lease", "done", "lease_expires_at"),
    Index("ix_operations_site_claim_token", "site_id", "claim_token"),
    Index("ix_operations_site_done_seq", "site_id", "done", "seq"),
)


# The metadata store: collections of JSON documents keyed by their `id` (NMDC's Mongo collections, in SQL).
# `version` counts a document's changes (a changesheet applies to the version it was checked against).
metadata_documents = Table(
    "metadata_documents",
    metadata,
    _seq(),
    Column("collection", String(100), nullable=False),
    Column("id", String(200), nullable=False),
    Column("document", Json, nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("updated_by", String(210), nullable=False),  # "job:<id>" when a workflow wrote it, else the caller
    UniqueConstraint("collection", "id", name="uq_metadata_documents_collection_id"),
    Index("ix_metadata_documents_collection_seq", "collection", "seq"),
)
