"""Invariant 3: an operation becomes done exactly once. The same final report again is 200, any other
report after done is 409, only the owning site may update it, and the job follows its outcome."""

import threading
from datetime import datetime

import pytest
import requests

from tests.utils.api import expect_error


def raw_patch(client, op_id: str, body: dict) -> requests.Response:
    return requests.patch(
        f"{client.base_url}/operations/{op_id}",
        json=body,
        headers={"Authorization": f"Bearer {client.token()}"},
        timeout=30,
    )


@pytest.fixture
def claimed(catalog, make_site):
    """(site, claim) -> a fresh job claimed by `site`; returns the operation."""
    count = iter(range(1000))

    def claim(site, **job_extra):
        job = catalog.create_job("wf", [], id=f"job-{next(count)}", **job_extra)
        return site.claim_job(job["id"])

    return claim


def test_same_final_report_twice_is_idempotent(catalog, make_site, claimed):
    site = make_site("site-a", ["py"])
    for report in (
        {"done": True, "result": {"rows": 3}},
        {"done": True, "error": {"code": "BOOM", "message": "failed", "details": {"line": 7}}},
    ):
        op = claimed(site)
        first, second = raw_patch(site, op["id"], report), raw_patch(site, op["id"], report)
        assert (first.status_code, second.status_code) == (200, 200), (first.text, second.text)
        assert first.json() == second.json() == catalog.get(f"/operations/{op['id']}")
        assert first.json()["done"]


def test_any_other_report_after_done_is_409(catalog, make_site, claimed):
    site = make_site("site-a", ["py"])
    op = claimed(site)
    done = site.update_operation(op["id"], done=True, result={"a": 1}, metadata={"progress": 100})
    for patch in (
        {"done": True, "result": {"a": 2}},
        {"done": True, "error": {"code": "BOOM", "message": "late"}},
        {"metadata": {"progress": 5}},
        {"lease_seconds": 60},
    ):
        response = raw_patch(site, op["id"], patch)
        assert (response.status_code, response.json()["code"]) == (409, "OPERATION_DONE"), (patch, response.text)
    assert catalog.get(f"/operations/{op['id']}") == done
    assert catalog.get(f"/jobs/{op['job_id']}")["status"] == "succeeded"


def test_only_the_owning_site_may_update(catalog, make_site, claimed):
    owner, other = make_site("site-a", ["py"]), make_site("site-b", ["py"])
    op = claimed(owner)
    expect_error(403, "NOT_OWNER", other.update_operation, op["id"], done=True, result={"stolen": True})
    expect_error(403, "NOT_OWNER", other.update_operation, op["id"], metadata={"progress": 1})
    expect_error(403, "SITE_ONLY", catalog.update_operation, op["id"], done=True, result={"admin": True})
    expect_error(404, "OPERATION_NOT_FOUND", owner.update_operation, "op-missing", metadata={"progress": 1})
    untouched = catalog.get(f"/operations/{op['id']}")
    assert not untouched["done"] and untouched["metadata"] == {}
    owner.update_operation(op["id"], done=True, result={"ok": True})
    expect_error(403, "NOT_OWNER", other.update_operation, op["id"], done=True, result={"ok": True})


def test_concurrent_final_reports_one_outcome(catalog, make_site, claimed):
    site = make_site("site-a", ["py"])
    result_a = {"done": True, "result": {"winner": "A"}}
    error_b = {"done": True, "error": {"code": "B_FAILED", "message": "B", "details": {}}}
    reports = [result_a] * 4 + [error_b] * 4
    for _ in range(6):
        op = claimed(site)
        barrier, responses = threading.Barrier(len(reports)), [None] * len(reports)

        def report(i: int, barrier: threading.Barrier, responses: list, op_id: str) -> None:
            barrier.wait(timeout=30)
            responses[i] = raw_patch(site, op_id, reports[i])

        threads = [threading.Thread(target=report, args=(i, barrier, responses, op["id"])) for i in range(len(reports))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        final = catalog.get(f"/operations/{op['id']}")
        assert final["done"] and (final["result"] is None) != (final["error"] is None)
        outcome = result_a if final["result"] is not None else error_b
        for sent, response in zip(reports, responses, strict=True):
            if sent is outcome:
                assert response.status_code == 200 and response.json() == final, response.text
            else:
                assert (response.status_code, response.json()["code"]) == (409, "OPERATION_DONE"), response.text
        expected_job = "succeeded" if outcome is result_a else "failed"
        assert catalog.get(f"/jobs/{op['job_id']}")["status"] == expected_job


def test_job_status_follows_outcome(catalog, make_site, claimed):
    site = make_site("site-a", ["py"])
    cases = [
        ({"result": {"ok": True}}, "succeeded"),
        ({"error": {"code": "TASK_FAILED", "message": "x"}}, "failed"),
        ({"error": {"code": "CANCELLED", "message": "stopped"}}, "cancelled"),
    ]
    for outcome, status in cases:
        op = claimed(site, max_attempts=3)
        site.update_operation(op["id"], metadata={"progress": 10})
        assert catalog.get(f"/jobs/{op['job_id']}")["status"] == "claimed"  # progress alone changes nothing
        done = site.update_operation(op["id"], done=True, **outcome)
        assert done["done"] and done["error"] == ({**outcome["error"], "details": {}} if "error" in outcome else None)
        job = catalog.get(f"/jobs/{op['job_id']}")
        assert (job["status"], job["attempts"], job["operation_id"]) == (status, 0, op["id"]), outcome
        expect_error(409, "JOB_NOT_OPEN", site.claim_job, op["job_id"])


def test_a_report_renews_the_lease_by_the_claimed_length_not_the_runtime_default(catalog, make_site):
    """A site that claimed with an 8 s lease and then died must lose the job ~8 s after its last report,
    not after the runtime's default lease (60 s)."""
    site = make_site("site-a", ["py"])
    job = catalog.create_job("wf", [], id="short-lease")
    op = site.claim_job(job["id"], lease_seconds=8)
    reported = site.update_operation(op["id"], metadata={"step": "load_input"})
    left = datetime.fromisoformat(reported["lease_expires_at"]) - datetime.fromisoformat(reported["updated_at"])
    assert reported["lease_seconds"] == 8 and 7 <= left.total_seconds() <= 8


def test_progress_reports_merge_metadata_and_renew_the_lease(catalog, make_site):
    site = make_site("site-a", ["py"])
    job = catalog.create_job("wf", [], id="progress")
    op = site.claim_job(job["id"], lease_seconds=1)
    for bad in (
        {"done": True},
        {"done": True, "result": {"a": 1}, "error": {"code": "X", "message": "y"}},
        {"result": {"a": 1}},
        {"error": {"code": "X", "message": "y"}},
    ):
        response = raw_patch(site, op["id"], bad)
        assert (response.status_code, response.json()["code"]) == (422, "INVALID_REPORT"), (bad, response.text)
    assert raw_patch(site, op["id"], {"progres": 1}).status_code == 422  # unknown field
    site.update_operation(
        op["id"], metadata={"progress": 10, "dagster_run_id": "run-1", "actions": {"fetch": "done"}}, lease_seconds=600
    )
    site.update_operation(op["id"], metadata={"progress": 50, "status_message": "halfway"})
    merged = site.update_operation(op["id"], metadata={"actions": {"parse": "running"}})
    assert merged["metadata"] == {
        "progress": 50,
        "dagster_run_id": "run-1",
        "status_message": "halfway",
        "actions": {"parse": "running"},
    }  # top-level keys replace, no deep merge
    assert not merged["done"] and catalog.get(f"/jobs/{job['id']}")["status"] == "claimed"
    # a progress report renews the lease: by the lease_seconds it names, and later ones by that same length
    assert (op["lease_seconds"], merged["lease_seconds"]) == (1, 600)
    gained = datetime.fromisoformat(merged["lease_expires_at"]) - datetime.fromisoformat(op["lease_expires_at"])
    assert gained.total_seconds() > 590
    done = site.update_operation(op["id"], done=True, result={"ok": True}, metadata={"progress": 100})
    assert done["metadata"] == {**merged["metadata"], "progress": 100}
