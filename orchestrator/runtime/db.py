"""Engines for the two real backends: SQLite (embedded default, WAL) and PostgreSQL.

SQLite write transactions start with BEGIN IMMEDIATE so concurrent writers queue on the lock
instead of failing to upgrade a read lock; readers use a separate engine with deferred BEGIN.
"""

from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

SQLITE_BUSY_TIMEOUT_MS = 30_000


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _sqlite_engine(url: str, begin: str) -> Engine:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Take transaction control away from the sqlite3 module so BEGIN is ours to emit.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        conn.exec_driver_sql(begin)

    return engine


def normalize_url(url: str) -> str:
    """Plain postgresql:// means psycopg2 (what dagster-postgres already installs), not SQLAlchemy 2.1's psycopg 3."""
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg2")
    return parsed.render_as_string(hide_password=False)


def make_engines(url: str) -> tuple[Engine, Engine]:
    """Return (writer, reader) engines for `url`; on PostgreSQL they are the same engine."""
    url = normalize_url(url)
    if is_sqlite(url):
        return _sqlite_engine(url, "BEGIN IMMEDIATE"), _sqlite_engine(url, "BEGIN")
    engine = create_engine(url, pool_size=20, max_overflow=20, pool_pre_ping=True)
    # Reads run in autocommit: under READ COMMITTED each statement has its own snapshot anyway, and
    # psycopg2 would otherwise spend a round trip on BEGIN and another on ROLLBACK for every read.
    return engine, engine.execution_options(isolation_level="AUTOCOMMIT")


def make_admin_engine(url: str) -> Engine:
    """An autocommit engine for CREATE/DROP DATABASE (tests, setup)."""
    return create_engine(normalize_url(url), isolation_level="AUTOCOMMIT", poolclass=NullPool)


class Engines:
    """A database's writer and reader engines and their transactions: what the runtime's store and the
    airlock's database share (each adds its own tables and functions)."""

    def __init__(self, url: str):
        self.writer, self.reader = make_engines(url)

    @contextmanager
    def write(self):
        with self.writer.begin() as conn:
            yield conn

    @contextmanager
    def read(self):
        with self.reader.begin() as conn:
            yield conn

    def dispose(self) -> None:
        self.writer.dispose()
        self.reader.dispose()
