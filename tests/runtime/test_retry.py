"""POST /jobs/{id}:retry: a person opens a failed or cancelled job again, with attempts counted afresh
and its old operations kept; any other status is 409 JOB_NOT_RETRYABLE; a site only a failed job it ran."""

import pytest

from orchestrator.runtime.client import Credentials, RuntimeClient
from tests.utils.api import expect_error


@pytest.fixture
def person(store, server, catalog) -> RuntimeClient:
    """A user who is not an admin: retrying is for people, not only for admins."""
    store.create_user("erin", "erin-password")
    return RuntimeClient(server, Credentials(username="erin", password="erin-password"), max_retries=1)


def failed_job(catalog, site, job_id: str) -> dict:
    """A job whose only attempt was released, so it failed (max_attempts 1); its operation."""
    catalog.create_job("wf", [], id=job_id, max_attempts=1)
    op = site.claim_job(job_id)
    assert site.post(f"/jobs/{job_id}:release")["status"] == "failed"
    return op


def test_a_failed_job_opens_again_with_history_kept_and_is_claimable(catalog, make_site, person):
    site = make_site("site-a", ["py"])
    old = failed_job(catalog, site, "r-failed")
    assert catalog.get("/jobs/r-failed")["attempts"] == 1

    retried = person.retry_job("r-failed")
    assert (retried.status, retried.attempts) == ("open", 0)
    assert catalog.get("/jobs/r-failed") == retried.model_dump(mode="json")
    [new] = site.claim_next("wf")  # the queue hands it out again, as a new operation
    assert new["job_id"] == "r-failed" and new["id"] != old["id"]
    history = catalog.get("/operations", job_id="r-failed")["items"]
    assert [(op["id"], op["done"]) for op in history] == [(old["id"], True), (new["id"], False)]
    assert history[0]["error"]["code"] == "RELEASED"
    # The old operation is still fenced off: its late report changes nothing.
    expect_error(409, "OPERATION_DONE", site.update_operation, old["id"], done=True, result={"ok": True})
    site.update_operation(new["id"], done=True, result={"ok": True})
    assert catalog.get("/jobs/r-failed")["status"] == "succeeded"


def test_a_reported_failure_and_a_cancelled_job_can_be_retried(catalog, make_site, person):
    site = make_site("site-a", ["py"])
    catalog.create_job("wf", [], id="r-error")
    op = site.claim_job("r-error")
    site.update_operation(op["id"], done=True, error={"code": "ACTIONS_FAILED", "message": "1 action(s) failed"})
    catalog.create_job("wf", [], id="r-cancelled")
    catalog.post("/jobs/r-cancelled:cancel")
    for job_id in ("r-error", "r-cancelled"):
        assert person.retry_job(job_id).status == "open"
        assert site.claim_job(job_id)["job_id"] == job_id


def test_a_job_that_is_not_failed_or_cancelled_is_not_retryable(catalog, make_site, person):
    site = make_site("site-a", ["py"])
    catalog.create_job("wf", [], id="r-open")
    catalog.create_job("wf", [], id="r-claimed")
    site.claim_job("r-claimed")
    catalog.create_job("wf", [], id="r-done")
    site.update_operation(site.claim_job("r-done")["id"], done=True, result={"ok": True})
    for job_id, status in (("r-open", "open"), ("r-claimed", "claimed"), ("r-done", "succeeded")):
        error = expect_error(409, "JOB_NOT_RETRYABLE", person.retry_job, job_id)
        assert status in error.message and error.details["status"] == status
        assert catalog.get(f"/jobs/{job_id}")["status"] == status
    expect_error(404, "JOB_NOT_FOUND", person.retry_job, "no-such-job")


def test_only_the_site_that_ran_a_failed_job_may_retry_it_and_never_a_cancelled_one(catalog, make_site):
    """`orchestrator site retry` runs with the site's credentials: the site that held the failed job last
    may open it again; another site may not, and no site reopens what a person cancelled."""
    site, other = make_site("site-a", ["py"]), make_site("site-b", ["py"])
    failed_job(catalog, site, "r-by-site")
    expect_error(403, "NOT_OWNER", other.retry_job, "r-by-site")
    assert catalog.get("/jobs/r-by-site")["status"] == "failed"
    assert site.retry_job("r-by-site").status == "open"
    catalog.create_job("wf", [], id="r-cancelled-by-person")
    site.claim_job("r-cancelled-by-person")
    catalog.post("/jobs/r-cancelled-by-person:cancel")
    assert site.update_operation(
        catalog.get("/jobs/r-cancelled-by-person")["operation_id"],
        done=True,
        error={"code": "CANCELLED", "message": "x"},
    )
    error = expect_error(409, "JOB_NOT_RETRYABLE", site.retry_job, "r-cancelled-by-person")
    assert "only a failed job" in error.message
    catalog.create_job("wf", [], id="r-never-claimed", max_attempts=1)
    expect_error(403, "NOT_OWNER", site.retry_job, "r-never-claimed")
