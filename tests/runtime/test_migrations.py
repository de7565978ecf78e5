"""Alembic migrations build exactly the schema the code declares, on both backends."""

import hashlib

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import column, func, insert, inspect, select, table

from orchestrator.runtime import migrate
from orchestrator.runtime import schema as s
from orchestrator.runtime.errors import Conflict, PermissionDenied, Unauthenticated
from orchestrator.runtime.models import (
    Checksum,
    IngestRequest,
    JobCreate,
    ObjectCreate,
    ObjectType,
    Principal,
    SiteLoad,
    Workflow,
)
from orchestrator.runtime.schema import metadata, utcnow

HEAD = "0009"
CHECKSUM_OF_A = Checksum(type="sha256", checksum=hashlib.sha256(b"a").hexdigest())


def test_migrated_schema_matches_declared_tables(store):
    with store.writer.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), metadata)
    assert diff == []


def test_upgrade_is_idempotent_and_records_head(store):
    migrate.upgrade(store.writer)  # already at head: a no-op, not an error
    with store.writer.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == HEAD
        assert {"jobs", "operations", "objects", "tokens"} <= set(inspect(conn).get_table_names())


def test_a_database_at_0001_with_rows_upgrades_to_head(store):
    """0002 adds login_failures; a database written at 0001 keeps its rows and gets working login limits."""
    with store.writer.begin() as conn:
        command.downgrade(migrate.alembic_config(conn), "0001")
    assert "login_failures" not in inspect(store.writer).get_table_names()
    store.create_user("bob", "right")
    with store.write() as conn:  # the site row as 0001's code wrote it (create_site reads back newer columns)
        conn.execute(insert(s.sites).values(id="site-a", capability_ids=["py"], created_at=utcnow()))
    creds = store.generate_credentials("site-a")
    token = store._issue("site", "site-a", creds.client_id).access_token  # POST /token needs 0002 already
    with store.read() as conn:
        before = {
            t: conn.execute(select(func.count()).select_from(table(t))).scalar()
            for t in ("users", "sites", "site_clients", "tokens")
        }
    migrate.upgrade(store.writer)
    with store.writer.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == HEAD
    with store.read() as conn:
        assert {t: conn.execute(select(func.count()).select_from(table(t))).scalar() for t in before} == before
    assert store.authenticate(token).id == "site-a"
    with pytest.raises(Unauthenticated):
        store.token_for_user("bob", "wrong")
    with store.read() as conn:
        assert conn.execute(select(func.count()).select_from(table("login_failures"))).scalar() == 3
    assert store.token_for_user("bob", "right").access_token


def _insert_open_job_as_before_0008(conn, job_id: str, workflow_id: str) -> None:
    """An open job as the code before jobs.share wrote it (the store's own insert names every column)."""
    jobs = table(
        "jobs",
        *(column(name) for name in ("id", "workflow_id", "inputs", "config", "status", "attempts", "max_attempts")),
        *(column(name) for name in ("created_by", "created_at", "updated_at")),
    )
    now = utcnow()
    conn.execute(
        insert(jobs).values(
            id=job_id,
            workflow_id=workflow_id,
            inputs="[]",
            config="{}",
            status="open",
            attempts=0,
            max_attempts=3,
            created_by="user:admin",
            created_at=now,
            updated_at=now,
        )
    )


def counts(store, tables) -> dict:
    with store.read() as conn:
        return {t: conn.execute(select(func.count()).select_from(table(t))).scalar() for t in tables}


def test_a_database_at_0002_with_rows_upgrades_to_head(store):
    """0003 adds jobs.site_id and cancelled_parts, and sites' last_seen_at, status and paused: rows written at
    0002 keep everything, read with the defaults (any site may claim, nothing cancelled, never seen, idle, not
    paused) and work with the new features."""
    with store.writer.begin() as conn:
        command.downgrade(migrate.alembic_config(conn), "0002")
    assert {"site_id", "cancelled_parts"}.isdisjoint(c["name"] for c in inspect(store.writer).get_columns("jobs"))
    assert {"last_seen_at", "status", "paused"}.isdisjoint(
        c["name"] for c in inspect(store.writer).get_columns("sites")
    )
    # Rows as the code at 0002 wrote them: only the columns it knew.
    now, admin = utcnow(), Principal(kind="user", id="admin", is_admin=True)
    store.put_workflow(Workflow(id="wf", name="W", dagster_job="j"))
    old_job = {"workflow_id": "wf", "inputs": [], "config": {"n": 1}, "attempts": 0, "max_attempts": 3}
    old_job |= {"created_by": "user:admin", "created_at": now, "updated_at": now}
    with store.write() as conn:
        for site_id in ("site-a", "site-b"):
            conn.execute(insert(s.sites).values(id=site_id, capability_ids=[], created_at=now))
        conn.execute(insert(s.jobs).values(id="old-open", status="open", operation_id=None, **old_job))
        conn.execute(insert(s.jobs).values(id="old-claimed", status="claimed", operation_id="op-old", **old_job))
        conn.execute(
            insert(s.operations).values(
                id="op-old",
                job_id="old-claimed",
                site_id="site-a",
                done=False,
                metadata={},
                lease_expires_at=now.replace(year=now.year + 1),
                lease_seconds=60,
                cancel_requested=False,
                created_at=now,
                updated_at=now,
            )
        )
    before = counts(store, ("sites", "jobs", "operations", "workflows"))

    migrate.upgrade(store.writer)

    with store.writer.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == HEAD
    assert counts(store, before) == before
    for job_id in ("old-open", "old-claimed"):
        job = store.get_job(job_id)
        assert (job.site_id, job.cancelled_parts, job.config) == (None, [], {"n": 1})
    site = store.get_site("site-a")
    assert (site.paused, site.last_seen_at) == (False, None)
    status = store.get_site_status("site-a")
    assert (status.up, status.running, status.queued, status.last_seen_at) == (False, 0, 0, None)
    # The new features on the old rows: any site may claim the old job; parts, heartbeats and pause work.
    (op,) = store.claim_next("wf", Principal(kind="site", id="site-b"))
    assert op.job_id == "old-open"
    assert store.cancel_job("old-claimed", admin, parts=["a", "b"]).cancelled_parts == ["a", "b"]
    states, missing = store.heartbeat(Principal(kind="site", id="site-a"), ["op-old"], site_status=SiteLoad(running=1))
    assert missing == [] and [(st.id, st.cancelled_parts) for st in states] == [("op-old", ["a", "b"])]
    status = store.get_site_status("site-a")
    assert (status.up, status.running, status.queued) == (True, 1, 0)
    assert store.set_site_paused("site-a", True).paused
    store.create_job(JobCreate(id="new", workflow_id="wf", site_id="site-a"), admin)
    with pytest.raises(PermissionDenied) as info:  # a new job of one site is kept from the others
        store.claim_job("new", Principal(kind="site", id="site-b"))
    assert info.value.code == "WRONG_SITE"


def test_a_database_at_0003_with_rows_upgrades_to_head(store):
    """0004 adds object_types.restricted: types written at 0003 stay open, their objects seen by everyone."""
    with store.writer.begin() as conn:
        command.downgrade(migrate.alembic_config(conn), "0003")
    assert "restricted" not in {c["name"] for c in inspect(store.writer).get_columns("object_types")}
    with store.write() as conn:  # as the code at 0003 wrote them
        old_types = table("object_types", column("id"), column("name"), column("description"))
        conn.execute(insert(old_types).values(id="doc", name="Document", description=""))
    user = Principal(kind="user", id="researcher")
    before = counts(store, ("object_types",))

    migrate.upgrade(store.writer)

    with store.writer.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == HEAD
    assert counts(store, before) == before
    assert store.get_object_type("doc").restricted is False
    obj = store.create_object(ObjectCreate(name="a.txt", types=["doc"], size=1, checksums=[CHECKSUM_OF_A]), user)
    assert store.get_object(obj.id, hide_restricted=True).id == obj.id
    store.put_object_type(ObjectType(id="secret", name="Secret", restricted=True))
    assert store.get_object_type("secret").restricted is True


def test_a_database_at_0004_with_rows_upgrades_to_head(store):
    """0005 adds sites.maintenance: sites written at 0004 keep their rows and pause, are out of maintenance,
    and can enter it; a paused old site still claims nothing."""
    with store.writer.begin() as conn:
        command.downgrade(migrate.alembic_config(conn), "0004")
    assert "maintenance" not in {c["name"] for c in inspect(store.writer).get_columns("sites")}
    store.put_workflow(Workflow(id="wf", name="W", dagster_job="j"))
    with store.write() as conn:  # as the code at 0004 wrote them
        for site_id, paused in (("site-a", False), ("site-b", True)):
            conn.execute(insert(s.sites).values(id=site_id, capability_ids=[], created_at=utcnow(), paused=paused))
    with store.write() as conn:
        _insert_open_job_as_before_0008(conn, "old-open", "wf")
    before = counts(store, ("sites", "jobs"))

    migrate.upgrade(store.writer)

    with store.writer.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == HEAD
    assert counts(store, before) == before
    assert [(x.id, x.paused, x.maintenance) for x in store.list_sites().items] == [
        ("site-a", False, False),
        ("site-b", True, False),
    ]
    assert store.set_site_maintenance("site-a", True).maintenance is True
    assert store.get_site_status("site-a").maintenance is True
    with pytest.raises(Conflict) as refused:
        store.claim_next("wf", Principal(kind="site", id="site-b"))
    assert refused.value.code == "SITE_PAUSED"
    (op,) = store.claim_next("wf", Principal(kind="site", id="site-a"))  # maintenance does not stop claims
    assert op.job_id == "old-open"


def test_a_database_at_0005_with_rows_upgrades_to_head(store):
    """0006 adds metadata_documents (a new table): rows written at 0005 stay, and documents can be ingested."""
    with store.writer.begin() as conn:
        command.downgrade(migrate.alembic_config(conn), "0005")
    assert "metadata_documents" not in inspect(store.writer).get_table_names()
    admin = Principal(kind="user", id="admin", is_admin=True)
    store.put_workflow(Workflow(id="wf", name="W", dagster_job="j"))
    with store.write() as conn:  # as the code at 0005 wrote them
        conn.execute(insert(s.sites).values(id="site-a", capability_ids=[], created_at=utcnow(), maintenance=True))
    with store.write() as conn:
        _insert_open_job_as_before_0008(conn, "old-open", "wf")
    before = counts(store, ("sites", "jobs", "workflows"))

    migrate.upgrade(store.writer)

    with store.writer.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == HEAD
    assert counts(store, before) == before
    assert store.get_site("site-a").maintenance is True
    data = b'{"study_set": [{"id": "nmdc:sty-1", "name": "A study"}]}'
    store.put_object_type(ObjectType(id="docset", name="Document set"))
    spec = ObjectCreate(name="set.json", types=["docset"], size=len(data), checksums=[_sha256(data)])
    obj = store.put_object(spec, data, admin)
    assert store.ingest(IngestRequest(object_id=obj.id), admin).inserted == {"study_set": ["nmdc:sty-1"]}
    assert store.get_document("study_set", "nmdc:sty-1").document["name"] == "A study"


def _sha256(data: bytes) -> Checksum:
    return Checksum(type="sha256", checksum=hashlib.sha256(data).hexdigest())


def test_a_database_at_0006_with_rows_upgrades_to_head(store):
    """0007 adds the metadata documents' counter row, starting at the highest seq stored: documents written
    at 0006 keep their seqs, and the next ingest's come after them."""
    admin = Principal(kind="user", id="admin", is_admin=True)
    with store.writer.begin() as conn:
        command.downgrade(migrate.alembic_config(conn), "0006")
    now = utcnow()
    with store.write() as conn:  # as the code at 0006 wrote them: seqs from the table's own sequence
        conn.execute(
            insert(s.metadata_documents),
            [
                {"collection": "study_set", "id": f"nmdc:sty-{i}", "document": {"id": f"nmdc:sty-{i}"}, "version": 1}
                | {"created_at": now, "updated_at": now, "updated_by": "user:admin"}
                for i in range(3)
            ],
        )
        old_seqs = list(conn.execute(select(s.metadata_documents.c.seq)).scalars())
        assert conn.execute(select(s.counters.c.name)).scalars().all() == ["objects"]

    migrate.upgrade(store.writer)

    with store.writer.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == HEAD
    with store.read() as conn:
        assert sorted(conn.execute(select(s.metadata_documents.c.seq)).scalars()) == sorted(old_seqs)
    data = b'{"study_set": [{"id": "nmdc:sty-new", "name": "After the upgrade"}]}'
    store.put_object_type(ObjectType(id="docset", name="Document set"))
    spec = ObjectCreate(name="set.json", types=["docset"], size=len(data), checksums=[_sha256(data)])
    store.ingest(IngestRequest(object_id=store.put_object(spec, data, admin).id), admin)
    assert store.get_document("study_set", "nmdc:sty-new").seq == max(old_seqs) + 1


def test_a_database_at_0007_with_rows_upgrades_to_head(store):
    """0008 adds jobs.share: jobs written at 0007 have none (one share together) and keep their order; jobs
    with a share made after the upgrade are claimed fairly beside them."""
    with store.writer.begin() as conn:
        command.downgrade(migrate.alembic_config(conn), "0007")
    assert "share" not in {c["name"] for c in inspect(store.writer).get_columns("jobs")}
    store.put_workflow(Workflow(id="wf", name="W", dagster_job="j"))
    with store.write() as conn:  # as the code at 0007 wrote them
        conn.execute(insert(s.sites).values(id="site-a", capability_ids=[], created_at=utcnow()))
        for job_id in ("old-1", "old-2", "old-3"):
            _insert_open_job_as_before_0008(conn, job_id, "wf")
    before = counts(store, ("sites", "jobs", "workflows"))

    migrate.upgrade(store.writer)

    with store.writer.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == HEAD
    assert counts(store, before) == before
    assert store.get_job("old-1").share is None
    site = Principal(kind="site", id="site-a")
    assert [op.job_id for op in store.claim_next("wf", site)] == ["old-1"]
    admin = Principal(kind="user", id="admin", is_admin=True)
    store.create_job(JobCreate(id="new", workflow_id="wf", share="workspace-b"), admin)
    # the jobs without a share have one claimed; workspace-b none: its job comes before the older ones
    assert [op.job_id for op in store.claim_next("wf", site, max_jobs=3)] == ["new", "old-2", "old-3"]


def test_a_database_at_0008_with_rows_upgrades_to_head(store):
    """0009 adds operations.share: a live operation written at 0008 gets its job's share (its run can be
    tagged with it), a finished one none; claims after the upgrade carry the share."""
    with store.writer.begin() as conn:
        command.downgrade(migrate.alembic_config(conn), "0008")
    assert "share" not in {c["name"] for c in inspect(store.writer).get_columns("operations")}
    store.put_workflow(Workflow(id="wf", name="W", dagster_job="j"))
    operations = table(
        "operations",
        *(column(name) for name in ("id", "job_id", "site_id", "done", "metadata", "lease_expires_at")),
        *(column(name) for name in ("lease_seconds", "cancel_requested", "created_at", "updated_at")),
    )
    now = utcnow()
    with store.write() as conn:  # as the code at 0008 wrote them: jobs with a share, operations without
        conn.execute(insert(s.sites).values(id="site-a", capability_ids=[], created_at=now))
        for job_id, done in (("live", False), ("finished", True)):
            _insert_open_job_as_before_0008(conn, job_id, "wf")
            conn.execute(
                s.jobs.update()
                .where(s.jobs.c.id == job_id)
                .values(status="succeeded" if done else "claimed", operation_id=f"op-{job_id}", share="ws-a")
            )
            conn.execute(
                insert(operations).values(
                    id=f"op-{job_id}",
                    job_id=job_id,
                    site_id="site-a",
                    done=done,
                    metadata="{}",
                    lease_expires_at=now,
                    lease_seconds=60,
                    cancel_requested=False,
                    created_at=now,
                    updated_at=now,
                )
            )
    before = counts(store, ("sites", "jobs", "operations"))

    migrate.upgrade(store.writer)

    with store.writer.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == HEAD
    assert counts(store, before) == before
    assert (store.get_operation("op-live").share, store.get_operation("op-finished").share) == ("ws-a", None)
    admin = Principal(kind="user", id="admin", is_admin=True)
    store.create_job(JobCreate(id="new", workflow_id="wf", share="ws-b"), admin)
    (op,) = store.claim_next("wf", Principal(kind="site", id="site-a"))
    assert (op.job_id, op.share) == ("new", "ws-b")
