"""dagster.yaml's production block, exactly as documented: Dagster's runs, events and schedules in
PostgreSQL (dagster-postgres). The test uncomments that block (and nothing else), points DAGSTER_PG_*
at a fresh database on the test server, and runs a submitted object through a real site daemon on
that instance, with the runtime on the same server (its own database), as the design describes."""

import secrets
import time

import dagster as dg
import pytest
import yaml
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from orchestrator.runtime.db import make_admin_engine, normalize_url
from orchestrator.runtime.models import SiteCreate
from orchestrator.runtime.store.jobs import job_id_for
from orchestrator.workflows.common import OPERATION_TAG, SITE_TAG
from tests.conftest import POSTGRES_URL, REPO_ROOT, _with_database
from tests.site.stack import SiteDaemon, make_site_copy, register_as_admin, site_env, wait_for

BEGIN, END = "# --- postgres ---\n", "# --- end postgres ---\n"


def documented_postgres_yaml() -> str:
    """dagster.yaml with the block between the markers uncommented (each line loses its leading `# `)."""
    text_ = (REPO_ROOT / "dagster.yaml").read_text()
    assert text_.count(BEGIN) == 1 and text_.count(END) == 1, "dagster.yaml must mark its postgres block once"
    before, rest = text_.split(BEGIN, 1)
    block, after = rest.split(END, 1)
    lines = block.splitlines(keepends=True)
    assert lines and all(line.startswith("# ") for line in lines), block
    return before + "".join(line[2:] for line in lines) + after


def test_documented_block_is_the_whole_storage_config():
    config = yaml.safe_load(documented_postgres_yaml())
    assert set(config["storage"]) == {"postgres"}
    db = config["storage"]["postgres"]["postgres_db"]
    assert {k: db[k] for k in ("hostname", "port", "username", "password", "db_name")} == {
        "hostname": {"env": "DAGSTER_PG_HOST"},
        "port": {"env": "DAGSTER_PG_PORT"},
        "username": {"env": "DAGSTER_PG_USERNAME"},
        "password": {"env": "DAGSTER_PG_PASSWORD"},
        "db_name": {"env": "DAGSTER_PG_DB"},
    }
    # the rest of the file is kept: the run queue and run monitoring settings still apply
    assert config["run_coordinator"]["class"] == "QueuedRunCoordinator" and config["run_monitoring"]["enabled"]


@pytest.fixture
def dagster_db():
    """A fresh database for Dagster on the test server; dropped afterwards."""
    admin = make_admin_engine(POSTGRES_URL)
    name = f"dagster_test_{secrets.token_hex(6)}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield name
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def pg_env(db_name: str) -> dict:
    url = make_url(POSTGRES_URL)
    return {
        "DAGSTER_PG_HOST": url.host or "127.0.0.1",
        "DAGSTER_PG_PORT": str(url.port or 5432),
        "DAGSTER_PG_USERNAME": url.username or "postgres",
        "DAGSTER_PG_PASSWORD": url.password or "",
        "DAGSTER_PG_DB": db_name,
    }


@pytest.mark.timeout(420)
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_site_runs_a_job_on_the_documented_postgres_storage(store, server, admin, tmp_path, dagster_db, monkeypatch):
    started = time.monotonic()
    repo = make_site_copy(tmp_path / "repo")
    store.create_site(SiteCreate(id="pg-site"))
    creds = store.generate_credentials("pg-site").model_dump()
    home = tmp_path / "dagster"
    env = site_env(repo, home, server, "pg-site", creds, **pg_env(dagster_db))
    (home / "dagster.yaml").write_text(documented_postgres_yaml())

    # The instance the daemon will use, opened here first: it creates Dagster's schema in the new database.
    for key, value in pg_env(dagster_db).items():
        monkeypatch.setenv(key, value)
    try:
        instance = dg.DagsterInstance.from_config(str(home))
    except Exception as exc:  # noqa: BLE001 - the message is the point
        pytest.fail(f"dagster.yaml's documented postgres block does not give a working instance: {exc!r}")
    try:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
    finally:
        instance.dispose()

    register_as_admin(repo, env, admin)

    daemon = SiteDaemon(repo, env, tmp_path / "daemon.log").start()
    try:
        note = admin.create_object(b"stored in postgres", name="pg.txt", types=["note"])
        job_id = job_id_for("echo-1.0.0", [note["id"]])

        def status():
            page = admin.get("/jobs", workflow_id="echo-1.0.0")["items"]
            job = next((j for j in page if j["id"] == job_id), None)
            assert job is None or job["status"] in ("open", "claimed", "succeeded"), (job, daemon.output())
            return job if job and job["status"] == "succeeded" else None

        job = wait_for(status, 240, "the job to succeed on the postgres instance", on_timeout=daemon.output)
        print(f"[dagster postgres] submitted -> succeeded: {time.monotonic() - started:.1f} s")
        op = admin.get(f"/operations/{job['operation_id']}")
        assert op["result"] == {"echo": ["pg.txt"]}
        run_id = op["metadata"]["dagster_run_id"]

        # The run lives in PostgreSQL: the `runs` table of the database we made, tagged with its operation.
        engine = create_engine(normalize_url(_with_database(POSTGRES_URL, dagster_db)))
        try:

            def run_row():
                with engine.connect() as conn:
                    return conn.execute(
                        text("SELECT status, pipeline_name FROM runs WHERE run_id = :id"), {"id": run_id}
                    ).first()

            row = wait_for(
                lambda: (lambda r: r if r and r.status in ("SUCCESS", "FAILURE", "CANCELED") else None)(run_row()),
                90,
                "the run to end",
                every=1,
                on_timeout=daemon.output,
            )
            assert (row.status, row.pipeline_name) == ("SUCCESS", "echo"), (row, daemon.output())
            with engine.connect() as conn:
                tags = dict(
                    conn.execute(text("SELECT key, value FROM run_tags WHERE run_id = :id"), {"id": run_id}).all()
                )
                events = conn.execute(
                    text("SELECT count(*) FROM event_logs WHERE run_id = :id"), {"id": run_id}
                ).scalar()
                ticks = conn.execute(text("SELECT count(*) FROM job_ticks")).scalar()
        finally:
            engine.dispose()
        assert tags[OPERATION_TAG] == op["id"] and tags[SITE_TAG] == "pg-site"
        assert events > 0 and ticks > 0  # event log and sensor ticks (schedule storage) are in postgres too
        # ... and nothing in the SQLite files the embedded default would have used.
        assert not (home / "history").exists() and not (home / "schedules").exists(), sorted(
            p.name for p in home.iterdir()
        )
    finally:
        daemon.stop()
    print(f"[dagster postgres] total: {time.monotonic() - started:.1f} s")
