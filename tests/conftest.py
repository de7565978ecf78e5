"""Shared fixtures: every runtime test runs on SQLite and on a real PostgreSQL, against a real
uvicorn server where HTTP is involved.

PostgreSQL: ORCHESTRATOR_TEST_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/postgres).
The run migrates one template database, then each test gets a fresh copy (CREATE DATABASE ...
TEMPLATE), dropped afterwards. An unreachable server fails the run with the command to start it.
"""

import os
import secrets
import threading
import time
from pathlib import Path

import pytest
import uvicorn
from sqlalchemy import text
from sqlalchemy.engine import make_url

from orchestrator.runtime import migrate
from orchestrator.runtime.api.app import create_app
from orchestrator.runtime.client import Credentials, RuntimeClient
from orchestrator.runtime.db import make_admin_engine
from orchestrator.runtime.models import SiteCreate
from orchestrator.runtime.store import Store
from orchestrator.settings import Settings

POSTGRES_URL = os.environ.get("ORCHESTRATOR_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
START_POSTGRES = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
BACKENDS = ["sqlite", "postgresql"]
# For interleavings only PostgreSQL allows (SQLite serialises whole write transactions).
POSTGRES_ONLY = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


def _with_database(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_template():
    """A migrated template database for this run; each test copies it."""
    admin = make_admin_engine(POSTGRES_URL)
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        pytest.exit(
            f"PostgreSQL is not reachable at {POSTGRES_URL} ({type(exc).__name__}).\n"
            f"The runtime's tests need a real server. Start the local one with:\n    {START_POSTGRES}\n"
            f"or point ORCHESTRATOR_TEST_POSTGRES_URL at one.",
            returncode=3,
        )
    name = f"orch_tmpl_{secrets.token_hex(4)}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_admin_engine(_with_database(POSTGRES_URL, name))
    migrate.upgrade(engine)
    engine.dispose()
    yield name
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def postgres_url(postgres_template):
    admin = make_admin_engine(POSTGRES_URL)
    name = f"orch_test_{secrets.token_hex(6)}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{postgres_template}"'))
    yield _with_database(POSTGRES_URL, name)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'runtime.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def settings(database_url, tmp_path) -> Settings:
    return Settings(
        database_url=database_url,
        blob_dir=tmp_path / "blobs",
        max_object_bytes=1 << 20,
        token_ttl_seconds=3600,
        lease_seconds=60,
        lease_sweep_seconds=0.2,
    )


@pytest.fixture
def store(settings):
    store = Store.open(settings)
    yield store
    store.dispose()


class LiveServer:
    """A real uvicorn server on a free loopback port, in a thread of the test process."""

    def __init__(self, store: Store, app=None):
        app = app if app is not None else create_app(store)
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def server(store):
    with LiveServer(store) as url:
        yield url


@pytest.fixture
def admin(store, server) -> RuntimeClient:
    password = secrets.token_urlsafe(12)
    store.create_user("admin", password, is_admin=True)
    return RuntimeClient(server, Credentials(username="admin", password=password), max_retries=1)


@pytest.fixture
def make_site(store, server):
    """make_site("site-a", capabilities=[...]) -> a RuntimeClient logged in as that site."""

    def make(site_id: str, capabilities: list[str] = ()) -> RuntimeClient:
        store.create_site(SiteCreate(id=site_id, capability_ids=list(capabilities)))
        creds = store.generate_credentials(site_id)
        return RuntimeClient(
            server, Credentials(client_id=creds.client_id, client_secret=creds.client_secret), max_retries=1
        )

    return make


@pytest.fixture
def catalog(admin):
    """A minimal catalog: object type `doc`, workflow `wf` (needs capability `py`), trigger doc -> wf."""
    admin.put("/object_types/doc", {"id": "doc", "name": "Document"})
    admin.put("/workflows/wf", {"id": "wf", "name": "Workflow", "dagster_job": "wf_job", "capability_ids": ["py"]})
    admin.put("/triggers/doc-wf", {"id": "doc-wf", "object_type_id": "doc", "workflow_id": "wf"})
    return admin


def wait_for_lock_waiters(store: Store, count: int) -> None:
    """Wait until `count` PostgreSQL transactions of this test's database are blocked on a row lock."""
    deadline = time.monotonic() + 10
    while True:
        with (
            store.reader.begin() as conn
        ):  # a fresh transaction each time: pg_stat_activity is a per-transaction snapshot
            waiting = conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock'"
                )
            ).scalar()
        if waiting >= count:
            return
        assert time.monotonic() < deadline, f"expected {count} transaction(s) waiting on a row lock"
        time.sleep(0.02)


REPO_ROOT = Path(__file__).resolve().parents[1]
