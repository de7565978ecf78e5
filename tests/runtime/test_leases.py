"""Invariant 2: a job has at most one live operation. Lease expiry (sweeper or on the spot) and
release return it to `open` (attempts + 1), fence the old operation, and fail it after max_attempts."""

import threading
import time
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, update

from orchestrator.runtime import schema as s
from orchestrator.runtime.errors import Conflict
from orchestrator.runtime.models import JobCreate, OperationPatch, Principal, SiteCreate, Workflow
from orchestrator.runtime.schema import utcnow
from tests.conftest import POSTGRES_ONLY, wait_for_lock_waiters
from tests.utils.api import expect_error


def wait_for(predicate, timeout: float = 5.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def live_ops(admin, job_id: str) -> list[dict]:
    return [op for op in admin.get("/operations", job_id=job_id)["items"] if not op["done"]]


def job_left_claimed(admin, job_id: str):
    job = admin.get(f"/jobs/{job_id}")
    return job if job["status"] != "claimed" else None


def ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_expired_lease_reopens_job_and_fences_the_late_report(catalog, make_site):
    site_a, site_b = make_site("site-a", ["py"]), make_site("site-b", ["py"])
    job = catalog.create_job("wf", [], id="lease-1", max_attempts=3)
    old = site_a.claim_job(job["id"], lease_seconds=1)
    assert len(live_ops(catalog, job["id"])) == 1
    reopened = wait_for(lambda: job_left_claimed(catalog, job["id"]), what="the sweeper to expire the lease")
    assert (reopened["status"], reopened["attempts"]) == ("open", 1)
    closed = catalog.get(f"/operations/{old['id']}")
    assert closed["done"] and closed["result"] is None and closed["error"]["code"] == "LEASE_EXPIRED"
    assert live_ops(catalog, job["id"]) == []
    # fencing: the site that lost the lease can no longer report, in any way
    err = expect_error(409, "OPERATION_DONE", site_a.update_operation, old["id"], done=True, result={"late": True})
    assert err.details["error"]["code"] == "LEASE_EXPIRED"
    expect_error(409, "OPERATION_DONE", site_a.update_operation, old["id"], metadata={"progress": 99})
    hb = site_a.heartbeat([old["id"]], lease_seconds=60)
    assert [(s["id"], s["done"], s["error"]["code"]) for s in hb["operations"]] == [(old["id"], True, "LEASE_EXPIRED")]
    assert catalog.get(f"/operations/{old['id']}") == closed
    assert catalog.get(f"/jobs/{job['id']}")["status"] == "open"
    # the job is claimable again, and the new operation can succeed
    new = site_b.claim_job(job["id"])
    assert new["id"] != old["id"] and [op["id"] for op in live_ops(catalog, job["id"])] == [new["id"]]
    site_b.update_operation(new["id"], done=True, result={"ok": True})
    final = catalog.get(f"/jobs/{job['id']}")
    assert (final["status"], final["attempts"], final["operation_id"]) == ("succeeded", 1, new["id"])
    expect_error(409, "OPERATION_DONE", site_a.update_operation, old["id"], done=True, result={"ok": True})


def test_job_fails_after_max_attempts_expiries(catalog, make_site):
    site = make_site("site-a", ["py"])
    job = catalog.create_job("wf", [], id="lease-max", max_attempts=2)
    first = site.claim_job(job["id"], lease_seconds=1)
    after_first = wait_for(lambda: job_left_claimed(catalog, job["id"]), what="first expiry")
    assert (after_first["status"], after_first["attempts"]) == ("open", 1)
    second = site.claim_job(job["id"], lease_seconds=1)
    after_second = wait_for(lambda: job_left_claimed(catalog, job["id"]), what="second expiry")
    assert (after_second["status"], after_second["attempts"]) == ("failed", 2)
    for op in (first, second):
        assert catalog.get(f"/operations/{op['id']}")["error"]["code"] == "LEASE_EXPIRED"
    expect_error(409, "JOB_NOT_OPEN", site.claim_job, job["id"])


def test_release_by_owner_reopens_job(catalog, make_site):
    site_a, site_b = make_site("site-a", ["py"]), make_site("site-b", ["py"])
    job = catalog.create_job("wf", [], id="rel-1", max_attempts=3)
    expect_error(409, "INVALID_TRANSITION", site_a.post, f"/jobs/{job['id']}:release")  # open: nothing to release
    op = site_a.claim_job(job["id"])
    expect_error(403, "NOT_OWNER", site_b.post, f"/jobs/{job['id']}:release")
    assert (
        catalog.get(f"/jobs/{job['id']}")["status"] == "claimed" and not catalog.get(f"/operations/{op['id']}")["done"]
    )
    released = site_a.post(f"/jobs/{job['id']}:release")
    assert (released["status"], released["attempts"]) == ("open", 1)
    closed = catalog.get(f"/operations/{op['id']}")
    assert closed["done"] and closed["error"]["code"] == "RELEASED"
    expect_error(409, "INVALID_TRANSITION", site_a.post, f"/jobs/{job['id']}:release")
    expect_error(409, "OPERATION_DONE", site_a.update_operation, op["id"], done=True, result={"late": True})
    again = site_b.claim_job(job["id"])
    assert [o["id"] for o in live_ops(catalog, job["id"])] == [again["id"]]
    # releasing the last allowed attempt fails the job
    last = catalog.create_job("wf", [], id="rel-last", max_attempts=1)
    site_a.claim_job(last["id"])
    assert site_a.post(f"/jobs/{last['id']}:release")["status"] == "failed"


def test_release_naming_a_stale_operation_leaves_the_new_claim_alone(catalog, make_site):
    """A site settling a crashed run releases by operation: if the job was re-claimed meanwhile (its lease
    expired, then the same site claimed it again), the newer claim must survive."""
    site = make_site("site-a", ["py"])
    job = catalog.create_job("wf", [], id="rel-stale", max_attempts=5)
    old = site.claim_job(job["id"])
    site.post(f"/jobs/{job['id']}:release", {"operation_id": old["id"]})
    new = site.claim_job(job["id"])
    error = expect_error(
        409, "OPERATION_MISMATCH", site.post, f"/jobs/{job['id']}:release", {"operation_id": old["id"]}
    )
    assert error.details == {"operation_id": new["id"]}
    assert (
        catalog.get(f"/jobs/{job['id']}")["operation_id"] == new["id"]
        and not catalog.get(f"/operations/{new['id']}")["done"]
    )
    assert site.post(f"/jobs/{job['id']}:release", {"operation_id": new["id"]})["status"] == "open"


def test_expired_leases_close_on_the_spot_without_sweeper(store):
    """No server, so no sweeper: the claim, report and heartbeat that meet an overdue lease expire it."""
    admin = Principal(kind="user", id="admin", is_admin=True)
    s1, s2 = Principal(kind="site", id="s1"), Principal(kind="site", id="s2")
    store.put_workflow(Workflow(id="wf", name="W", dagster_job="j"))
    for site in (s1, s2):
        store.create_site(SiteCreate(id=site.id))
    jobs = [store.create_job(JobCreate(id=f"lazy-{i}", workflow_id="wf"), admin)[0].id for i in range(6)]
    ops = [store.claim_job(job_id, s1, lease_seconds=1) for job_id in jobs]
    time.sleep(1.05)
    assert {store.get_job(j).status for j in jobs} == {"claimed"}  # nobody has looked yet

    # a late final report
    with pytest.raises(Conflict) as info:
        store.update_operation(ops[0].id, s1, OperationPatch(done=True, result={"late": True}))
    assert (info.value.http_status, info.value.code) == (409, "OPERATION_DONE")
    job = store.get_job(jobs[0])
    assert (job.status, job.attempts) == ("open", 1)
    assert store.get_operation(ops[0].id).error["code"] == "LEASE_EXPIRED"

    # a claim by another site takes over the overdue job
    new = store.claim_job(jobs[1], s2)
    assert store.get_operation(ops[1].id).error["code"] == "LEASE_EXPIRED"
    job = store.get_job(jobs[1])
    assert (job.status, job.attempts, job.operation_id) == ("claimed", 1, new.id)

    # a heartbeat must not revive overdue leases: all of them expire, none is renewed
    ids = [op.id for op in ops[2:]]
    states, missing = store.heartbeat(s1, ids, lease_seconds=60)
    assert missing == []
    assert sorted((s.id, s.done, s.error["code"]) for s in states) == sorted((i, True, "LEASE_EXPIRED") for i in ids)
    for job_id in jobs[2:]:
        job = store.get_job(job_id)
        assert (job.status, job.attempts) == ("open", 1)
    assert store.expire_leases() == 0  # nothing left for a sweeper


def test_heartbeat_extends_lease_and_reports_cancel(catalog, make_site):
    site_a, site_b = make_site("site-a", ["py"]), make_site("site-b", ["py"])
    job = catalog.create_job("wf", [], id="hb-1")
    other_job = catalog.create_job("wf", [], id="hb-other")
    op = site_a.claim_job(job["id"], lease_seconds=1)
    other = site_b.claim_job(other_job["id"], lease_seconds=60)
    deadline = time.monotonic() + 2.2  # well past the 1 s lease the claim asked for
    while time.monotonic() < deadline:
        hb = site_a.heartbeat([op["id"], other["id"], "op-unknown"], lease_seconds=2)
        assert [(s["id"], s["done"], s["cancel_requested"]) for s in hb["operations"]] == [(op["id"], False, False)]
        assert hb["missing"] == [other["id"], "op-unknown"]  # another site's operation is not ours to renew
        time.sleep(0.3)
    current = catalog.get(f"/operations/{op['id']}")
    assert not current["done"] and ts(current["lease_expires_at"]) > ts(op["lease_expires_at"])
    assert catalog.get(f"/jobs/{job['id']}")["status"] == "claimed"
    assert catalog.get(f"/operations/{other['id']}")["lease_expires_at"] == other["lease_expires_at"]
    # a cancel reaches the site through its heartbeat
    catalog.post(f"/jobs/{job['id']}:cancel")
    hb = site_a.heartbeat([op["id"]])
    assert [(s["done"], s["cancel_requested"]) for s in hb["operations"]] == [(False, True)]


@POSTGRES_ONLY
def test_sweeper_does_not_close_a_lease_renewed_while_it_looked(store):
    """A heartbeat sent before the lease ran out renews it; a sweep that read the old lease must then leave it alone."""
    admin, site = Principal(kind="user", id="admin", is_admin=True), Principal(kind="site", id="s1")
    store.put_workflow(Workflow(id="wf", name="W", dagster_job="j"))
    store.create_site(SiteCreate(id="s1"))

    def race(margin: float):
        job_id = store.create_job(JobCreate(id=f"hb-race-{margin}", workflow_id="wf"), admin)[0].id
        op = store.claim_job(job_id, site)
        lease_end = utcnow() + timedelta(seconds=margin)
        with store.write() as conn:
            conn.execute(update(s.operations).where(s.operations.c.id == op.id).values(lease_expires_at=lease_end))
        results = {}

        def run(name, fn):
            results[name] = fn()

        # A third transaction holds the row lock: the heartbeat (sent while the lease is live) queues first,
        # the sweep (which reads the then-expired lease) queues behind it.
        with store.writer.connect() as blocker:
            tx = blocker.begin()
            blocker.execute(select(s.operations).where(s.operations.c.id == op.id).with_for_update())
            beat = threading.Thread(target=run, args=("heartbeat", lambda: store.heartbeat(site, [op.id], 60)))
            beat.start()
            wait_for_lock_waiters(store, 1)
            time.sleep(max(0.0, (lease_end - utcnow()).total_seconds()) + 0.05)
            sweep = threading.Thread(target=run, args=("sweep", store.expire_leases))
            sweep.start()
            wait_for_lock_waiters(store, 2)
            tx.commit()
        beat.join(10)
        sweep.join(10)
        (state,), missing = results["heartbeat"]
        if state.lease_expires_at - timedelta(seconds=60) >= lease_end:
            return None  # the heartbeat itself started after the lease ran out (a slow machine): not this race
        return job_id, op, state, results["sweep"]

    outcome = next(filter(None, (race(margin) for margin in (0.5, 2.0, 5.0))), None)
    assert outcome is not None, "could not start the heartbeat before the lease ran out"
    job_id, op, state, swept = outcome
    assert not state.done  # the site was told its lease was renewed
    current = store.get_operation(op.id)
    assert not current.done, f"closed with {current.error} right after its lease was renewed"
    assert swept == 0 and store.get_job(job_id).status == "claimed"
