"""Fair shares (jobs.share, a workspace): a claim takes first the open jobs of the shares with the fewest
jobs claimed, oldest first within a share, as job-runner orders its pending jobs; over HTTP, both backends."""

import threading

from orchestrator.runtime.client import RuntimeClient
from tests.runtime.test_claims import claimers
from tests.utils.api import expect_error


def _flood(admin, share: str | None, count: int, prefix: str) -> list[str]:
    extra = {"share": share} if share else {}
    return [admin.create_job("wf", [], config={"n": i}, id=f"{prefix}-{i:02d}", **extra)["id"] for i in range(count)]


def _claimed(site: RuntimeClient, max_jobs: int = 1) -> list[str]:
    return [op["job_id"] for op in site.claim_next("wf", max_jobs=max_jobs)]


def _finish(site: RuntimeClient, job_ids: list[str], admin) -> None:
    for job_id in job_ids:
        site.update_operation(admin.get(f"/jobs/{job_id}")["operation_id"], done=True, result={})


def test_a_flooded_workspace_waits_behind_the_others_first_job(catalog, make_site):
    site = make_site("site-a", ["py"])
    flood = _flood(catalog, "busy", 20, "busy")
    (other,) = _flood(catalog, "quiet", 1, "quiet")
    assert catalog.get(f"/jobs/{other}")["share"] == "quiet"
    assert _claimed(site) == [flood[0]]
    # busy has one claimed, quiet none: the next free slot goes to quiet's job, submitted after 20 of busy's
    assert _claimed(site) == [other]
    assert _claimed(site, max_jobs=2) == flood[1:3]


def test_one_claim_of_several_jobs_takes_them_round_robin(catalog, make_site):
    site = make_site("site-a", ["py"])
    a, b, c = _flood(catalog, "a", 6, "a"), _flood(catalog, "b", 2, "b"), _flood(catalog, "c", 1, "c")
    # no share has a claimed job: the first of each (oldest first), then the second of each...
    assert _claimed(site, max_jobs=5) == [a[0], b[0], c[0], a[1], b[1]]
    _finish(site, [a[0], a[1]], catalog)  # a's finished jobs no longer count against it
    assert _claimed(site, max_jobs=4) == a[2:6]


def test_jobs_without_a_share_are_one_share_and_keep_their_order(catalog, make_site):
    site = make_site("site-a", ["py"])
    plain = _flood(catalog, None, 4, "plain")
    assert catalog.get(f"/jobs/{plain[0]}")["share"] is None
    assert _claimed(site, max_jobs=2) == plain[:2]  # no share anywhere: the oldest-first claim
    shared = _flood(catalog, "ws", 2, "ws")
    # the jobs without a share have 2 claimed, ws none
    assert _claimed(site, max_jobs=3) == [shared[0], shared[1], plain[2]]


def test_fair_claims_respect_the_site_a_job_is_reserved_for(catalog, make_site):
    here, there = make_site("site-a", ["py"]), make_site("site-b", ["py"])
    theirs = catalog.create_job("wf", [], id="theirs", share="quiet", site_id="site-b")["id"]
    mine = _flood(catalog, "busy", 2, "busy")
    assert _claimed(here, max_jobs=3) == mine
    assert _claimed(there) == [theirs]


def test_the_share_is_checked_and_is_not_part_of_the_definition(catalog, make_site):
    for bad in ("", "has space", "x" * 101, "../up"):
        expect_error(422, "INVALID_ARGUMENT", catalog.post, "/jobs", {"workflow_id": "wf", "share": bad})
    first = catalog.create_job("wf", [], id="same", share="one")
    # a create repeated with another share is the same job (scheduling is not its definition)
    assert catalog.create_job("wf", [], id="same", share="two") == first


def test_concurrent_fair_claims_take_every_job_exactly_once(catalog, make_site):
    """16 claimers (4 sites) drain 3 shares of jobs 2 at a time: each job is claimed once, with no errors."""
    clients = claimers(make_site, sites=4, per_site=4)
    jobs = set(_flood(catalog, "a", 30, "a") + _flood(catalog, "b", 20, "b") + _flood(catalog, None, 10, "plain"))
    got: list[list[str]] = [[] for _ in clients]
    errors = []
    barrier = threading.Barrier(len(clients))

    def drain(index: int, client: RuntimeClient) -> None:
        barrier.wait()
        try:
            while ops := client.claim_next("wf", max_jobs=2):
                got[index].extend(op["job_id"] for op in ops)
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=drain, args=(i, c)) for i, c in enumerate(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    claimed = [job_id for ops in got for job_id in ops]
    assert sorted(claimed) == sorted(jobs), "every job claimed exactly once"
    assert len(list(catalog.iterate("/operations"))) == len(jobs)


def test_an_operation_carries_its_jobs_share_however_it_was_claimed(catalog, make_site):
    site = make_site("site-a", ["py"])
    (shared,), (plain,) = _flood(catalog, "ws", 1, "ws"), _flood(catalog, None, 1, "plain")
    (by_id,) = _flood(catalog, "by-id", 1, "by-id")
    claimed = {op["job_id"]: op["share"] for op in site.claim_next("wf", max_jobs=2)}  # the fair path
    assert claimed == {shared: "ws", plain: None}
    assert site.claim_job(by_id)["share"] == "by-id"
    operation_id = catalog.get(f"/jobs/{by_id}")["operation_id"]
    assert catalog.get(f"/operations/{operation_id}")["share"] == "by-id"
