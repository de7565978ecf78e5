"""Invariant 4: cancelling an open job cancels it at once; a claimed one keeps its claim and gets
`cancel_requested` until the site reports CANCELLED. Finished jobs cannot be cancelled; repeats are 200."""

import threading
from datetime import timedelta

import pytest
import requests
from sqlalchemy import select, update

from orchestrator.runtime import schema as s
from orchestrator.runtime.models import JobCreate, Principal, SiteCreate, Workflow
from orchestrator.runtime.schema import utcnow
from tests.conftest import POSTGRES_ONLY, wait_for_lock_waiters
from tests.utils.api import expect_error


def cancel(client, job_id: str) -> requests.Response:
    return requests.post(
        f"{client.base_url}/jobs/{job_id}:cancel", headers={"Authorization": f"Bearer {client.token()}"}, timeout=30
    )


def test_open_job_is_cancelled_at_once(catalog, make_site):
    site = make_site("site-a", ["py"])
    job = catalog.create_job("wf", [], id="c-open")
    first = cancel(catalog, job["id"])
    assert first.status_code == 200 and first.json()["status"] == "cancelled"
    assert catalog.get(f"/jobs/{job['id']}")["status"] == "cancelled"
    expect_error(409, "JOB_NOT_OPEN", site.claim_job, job["id"])
    assert catalog.get("/operations", job_id=job["id"])["items"] == []
    again = cancel(catalog, job["id"])
    assert again.status_code == 200 and again.json() == catalog.get(f"/jobs/{job['id']}")


def test_claimed_job_gets_cancel_requested_then_site_reports_cancelled(catalog, make_site):
    site, other = make_site("site-a", ["py"]), make_site("site-b", ["py"])
    job = catalog.create_job("wf", [], id="c-claimed")
    op = site.claim_job(job["id"])
    assert op["cancel_requested"] is False
    for _ in range(2):  # asking twice is fine
        response = cancel(catalog, job["id"])
        assert response.status_code == 200 and response.json()["status"] == "claimed"
    assert catalog.get(f"/jobs/{job['id']}")["status"] == "claimed"  # the site still holds it until it stops
    requested = catalog.get(f"/operations/{op['id']}")
    assert requested["cancel_requested"] is True and requested["done"] is False
    expect_error(409, "JOB_NOT_OPEN", other.claim_job, job["id"])
    assert site.heartbeat([op["id"]])["operations"][0]["cancel_requested"] is True
    site.update_operation(op["id"], done=True, error={"code": "CANCELLED", "message": "stopped the run"})
    final = catalog.get(f"/jobs/{job['id']}")
    assert (final["status"], final["operation_id"]) == ("cancelled", op["id"])
    assert cancel(catalog, job["id"]).status_code == 200
    expect_error(409, "JOB_NOT_OPEN", other.claim_job, job["id"])


def test_cancel_requested_job_is_not_requeued_when_its_operation_closes(catalog, make_site):
    site = make_site("site-a", ["py"])
    job = catalog.create_job("wf", [], id="c-release", max_attempts=5)
    site.claim_job(job["id"])
    cancel(catalog, job["id"])
    released = site.post(f"/jobs/{job['id']}:release")  # the site gives up instead of reporting
    assert released["status"] == "cancelled"
    expect_error(409, "JOB_NOT_OPEN", site.claim_job, job["id"])


def test_a_site_may_cancel_only_a_job_it_holds(catalog, make_site):
    holder, other = make_site("site-a", ["py"]), make_site("site-b", ["py"])
    open_job = catalog.create_job("wf", [], id="c-open-by-site")
    claimed = catalog.create_job("wf", [], id="c-held")
    op = holder.claim_job(claimed["id"])
    for job_id in (open_job["id"], claimed["id"]):
        response = cancel(other, job_id)
        assert (response.status_code, response.json()["code"]) == (403, "NOT_OWNER"), response.text
    assert catalog.get(f"/jobs/{open_job['id']}")["status"] == "open"
    assert not catalog.get(f"/operations/{op['id']}")["cancel_requested"]
    assert cancel(holder, claimed["id"]).json()["status"] == "claimed"
    assert catalog.get(f"/operations/{op['id']}")["cancel_requested"]


def test_finished_job_cannot_be_cancelled(catalog, make_site):
    site = make_site("site-a", ["py"])
    outcomes = {"c-ok": {"result": {"ok": True}}, "c-bad": {"error": {"code": "TASK_FAILED", "message": "x"}}}
    for job_id, outcome in outcomes.items():
        catalog.create_job("wf", [], id=job_id)
        op = site.claim_job(job_id)
        site.update_operation(op["id"], done=True, **outcome)
        status = catalog.get(f"/jobs/{job_id}")["status"]
        response = cancel(catalog, job_id)
        assert (response.status_code, response.json()["code"]) == (409, "INVALID_TRANSITION"), response.text
        assert catalog.get(f"/jobs/{job_id}")["status"] == status
        assert catalog.get(f"/operations/{op['id']}")["cancel_requested"] is False
    response = cancel(catalog, "no-such-job")
    assert (response.status_code, response.json()["code"]) == (404, "JOB_NOT_FOUND")


@POSTGRES_ONLY
@pytest.mark.parametrize("closer", ["release", "lease_expiry"])
def test_cancel_is_not_lost_when_the_operation_closes_concurrently(store, closer):
    """The cancel commits between the closer reading the operation and closing it: the job must end cancelled."""
    admin, site = Principal(kind="user", id="admin", is_admin=True), Principal(kind="site", id="s1")
    store.put_workflow(Workflow(id="wf", name="W", dagster_job="j"))
    store.create_site(SiteCreate(id="s1"))
    job_id = store.create_job(JobCreate(id="c-race", workflow_id="wf", max_attempts=5), admin)[0].id
    op = store.claim_job(job_id, site)
    if closer == "lease_expiry":
        with store.write() as conn:
            conn.execute(
                update(s.operations)
                .where(s.operations.c.id == op.id)
                .values(lease_expires_at=utcnow() - timedelta(seconds=1))
            )
    close = (lambda: store.release_job(job_id, site)) if closer == "release" else store.expire_leases
    errors = []

    def run(fn):
        try:
            fn()
        except Exception as exc:  # surfaced below
            errors.append(exc)

    # A third transaction holds the operation's row lock, so the two writers queue up in a known order:
    # first the cancel, then the closer (which has already read the operation by the time it waits).
    with store.writer.connect() as blocker:
        tx = blocker.begin()
        blocker.execute(select(s.operations).where(s.operations.c.id == op.id).with_for_update())
        canceller = threading.Thread(target=run, args=(lambda: store.cancel_job(job_id, admin),))
        canceller.start()
        wait_for_lock_waiters(store, 1)
        closer_thread = threading.Thread(target=run, args=(close,))
        closer_thread.start()
        wait_for_lock_waiters(store, 2)
        tx.commit()
    canceller.join(10)
    closer_thread.join(10)
    assert not errors, errors
    closed = store.get_operation(op.id)
    assert closed.done and closed.cancel_requested  # the cancel was accepted before the operation closed
    job = store.get_job(job_id)
    assert job.status == "cancelled", f"cancel lost: the job went back to {job.status!r} with cancel_requested set"
