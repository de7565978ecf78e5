"""Jobs restricted to one site: only that site claims them (`:claim` by another is 403 WRONG_SITE,
`:claimNext` never hands them to another, even under concurrent claims); site_id is part of the job's
definition; an unknown site is refused; the claim query still walks the (status, workflow, seq) index."""

import re
import threading

from sqlalchemy import insert

from orchestrator.runtime import schema as s
from orchestrator.runtime.client import RuntimeClient
from orchestrator.runtime.models import Principal
from orchestrator.runtime.schema import utcnow
from tests.utils.api import call, expect_error, snapshot
from tests.utils.sql import analyze, captured_sql, is_postgres, plan_of


def test_a_site_job_is_created_with_its_site_and_is_part_of_its_definition(catalog, make_site):
    make_site("site-a", ["py"])
    make_site("site-b", ["py"])
    job = catalog.create_job("wf", [], {"n": 1}, id="only-a", site_id="site-a")
    assert (job["site_id"], job["status"], job["cancelled_parts"]) == ("site-a", "open", [])
    assert catalog.get_job("only-a").site_id == "site-a"
    again = call(
        catalog, "POST", "/jobs", json={"id": "only-a", "workflow_id": "wf", "config": {"n": 1}, "site_id": "site-a"}
    )
    assert again.status_code == 200 and again.json() == job
    for other in ("site-b", None):  # another site, or none, is another job
        body = {"id": "only-a", "workflow_id": "wf", "config": {"n": 1}, "site_id": other}
        response = call(catalog, "POST", "/jobs", json=body)
        assert (response.status_code, response.json()["code"]) == (409, "ALREADY_EXISTS"), response.text
    anywhere = catalog.create_job("wf", [], {"n": 1}, id="anywhere")
    assert anywhere["site_id"] is None
    expect_error(409, "ALREADY_EXISTS", catalog.create_job, "wf", [], {"n": 1}, id="anywhere", site_id="site-a")
    assert catalog.get_job("anywhere").site_id is None


def test_an_unknown_site_is_refused_and_nothing_is_made(catalog, store):
    before = snapshot(catalog, store)
    error = expect_error(422, "UNKNOWN_SITE", catalog.create_job, "wf", [], id="nowhere", site_id="site-zz")
    assert error.details == {"missing": ["site-zz"]} and "site-zz" in error.message
    bad = call(catalog, "POST", "/jobs", json={"workflow_id": "wf", "site_id": "no spaces"})
    assert (bad.status_code, bad.json()["code"]) == (422, "INVALID_ARGUMENT")
    assert snapshot(catalog, store) == before


def test_claim_by_another_site_is_wrong_site(catalog, make_site):
    site_a, site_b = make_site("site-a", ["py"]), make_site("site-b", ["py"])
    catalog.create_job("wf", [], id="for-a", site_id="site-a")
    error = expect_error(403, "WRONG_SITE", site_b.claim_job, "for-a")
    assert "site-a" in error.message and error.details == {"id": "for-a", "site_id": "site-a"}
    assert catalog.get_job("for-a").status == "open"
    assert catalog.get("/operations", job_id="for-a")["items"] == []
    op = site_a.claim_job("for-a")
    assert op["job_id"] == "for-a" and op["site_id"] == "site-a"
    expect_error(403, "WRONG_SITE", site_b.claim_job, "for-a")  # not JOB_NOT_OPEN: it is never site-b's
    # Released, it is open again -- and still only site-a's.
    catalog.release_job("for-a")
    expect_error(403, "WRONG_SITE", site_b.claim_job, "for-a")
    assert site_b.claim_next("wf", max_jobs=10) == []
    assert [op["job_id"] for op in site_a.claim_next("wf", max_jobs=10)] == ["for-a"]


def test_the_named_site_still_needs_the_capabilities(catalog, make_site):
    make_site("site-a", [])
    weak = make_site("site-weak", [])
    catalog.create_job("wf", [], id="for-weak", site_id="site-weak")
    expect_error(403, "MISSING_CAPABILITY", weak.claim_job, "for-weak")
    expect_error(403, "MISSING_CAPABILITY", weak.claim_next, "wf")


def test_claim_next_skips_other_sites_jobs_oldest_first(catalog, make_site):
    site_a, site_b = make_site("site-a", ["py"]), make_site("site-b", ["py"])
    queue = {"b1": "site-b", "any1": None, "a1": "site-a", "b2": "site-b", "a2": "site-a", "any2": None, "b3": "site-b"}
    for job_id, site_id in queue.items():  # created in this order
        catalog.create_job("wf", [], id=job_id, site_id=site_id)
    assert [op["job_id"] for op in site_a.claim_next("wf", max_jobs=3)] == ["any1", "a1", "a2"]
    assert [op["job_id"] for op in site_b.claim_next("wf", max_jobs=10)] == ["b1", "b2", "any2", "b3"]
    assert site_a.claim_next("wf", max_jobs=10) == []
    assert {job["status"] for job in catalog.get("/jobs")["items"]} == {"claimed"}


def test_concurrent_claim_next_never_gives_a_site_another_sites_job(catalog, make_site):
    """Both sites claim with several clients at once until the queue is empty: every job is claimed exactly
    once, each site job by its own site, the open-to-all ones by either."""
    sites = {"site-a": make_site("site-a", ["py"]), "site-b": make_site("site-b", ["py"])}
    wanted = {}
    for i in range(60):
        site_id = ("site-a", "site-b", None)[i % 3]
        job_id = f"mixed-{i}"
        catalog.create_job("wf", [], id=job_id, site_id=site_id)
        wanted[job_id] = site_id
    clients = [
        (site_id, RuntimeClient(first.base_url, first.credentials, max_retries=1))
        for site_id, first in sites.items()
        for _ in range(4)
    ]
    for _, client in clients:
        client.token()
    barrier = threading.Barrier(len(clients))
    claimed: list[tuple[str, dict]] = []
    errors = []
    lock = threading.Lock()

    def claim_all(site_id: str, client: RuntimeClient) -> None:
        try:
            barrier.wait(timeout=30)
            empty = 0
            while empty < 2:  # twice empty: the queue holds nothing more for this site
                ops = client.claim_next("wf", max_jobs=3)
                empty = 0 if ops else empty + 1
                with lock:
                    claimed.extend((site_id, op) for op in ops)
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=claim_all, args=pair) for pair in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors and not any(t.is_alive() for t in threads), errors
    job_ids = [op["job_id"] for _, op in claimed]
    assert sorted(job_ids) == sorted(wanted), "every job claimed exactly once"
    wrong = [(site_id, op["job_id"]) for site_id, op in claimed if wanted[op["job_id"]] not in (None, site_id)]
    assert wrong == [], f"jobs claimed by another site than theirs: {wrong}"
    assert all(op["site_id"] == site_id for site_id, op in claimed)
    by_site = {site_id for site_id, op in claimed if wanted[op["job_id"]] is None}
    assert by_site <= {"site-a", "site-b"}
    for job in catalog.iterate("/jobs"):
        assert job["status"] == "claimed" and job["site_id"] == wanted[job["id"]]


def test_claim_next_walks_the_status_workflow_seq_index(catalog, make_site, store):
    """Deep in 2,000 finished jobs, with older open jobs of another site ahead in line, claimNext is a range
    scan of ix_jobs_status_workflow_seq (status, workflow) in seq order with site_id checked on the open rows,
    not a scan of the table."""
    make_site("site-a", ["py"])
    make_site("site-b", ["py"])
    now = utcnow()
    rows = [
        {
            "id": f"h-{i}",
            "workflow_id": "wf",
            "site_id": "site-b" if i % 100 == 0 else None,
            "status": "open" if i % 100 == 0 or i == 1999 else "succeeded",
            "inputs": [],
            "config": {},
            "attempts": 0,
            "max_attempts": 3,
            "operation_id": None,
            "created_by": "user:admin",
            "created_at": now,
            "updated_at": now,
        }
        for i in range(2000)
    ]
    with store.write() as conn:
        conn.execute(insert(s.jobs), rows)
    analyze(store, "jobs")
    with captured_sql(store.writer) as statements:
        (op,) = store.claim_next("wf", Principal(kind="site", id="site-a"))
    assert op.job_id == "h-1999"  # the 20 older open jobs are site-b's
    # PostgreSQL claims in one statement (WITH locked AS (SELECT ... FOR UPDATE SKIP LOCKED) UPDATE ... INSERT).
    ((sql, params),) = [
        (q, p) for q, p in statements if re.search(r"^\s*(SELECT jobs\.id\b|WITH locked AS)", q) and "ORDER BY" in q
    ]
    plan = plan_of(store, sql, params)
    if is_postgres(store):
        assert "FOR UPDATE SKIP LOCKED" in sql
        assert "Seq Scan on jobs" not in plan, plan
        assert re.search(r"Index Scan using ix_jobs_status_workflow_seq on jobs", plan), plan
        assert re.search(r"Index Cond: .*status.*workflow_id", plan), plan
    else:
        assert not re.search(r"\bSCAN jobs\b", plan), plan
        assert re.search(
            r"SEARCH jobs USING INDEX ix_jobs_status_workflow_seq \(status=\? AND workflow_id=\?\)", plan
        ), plan
