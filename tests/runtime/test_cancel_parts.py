"""Cancelling parts of a job (a pipeline's actions): `POST /jobs/{id}:cancel {"parts": [...]}` adds the
names to the job's cancelled_parts (a set in first-cancelled order) and leaves the job running; the
holder learns of them from its heartbeats. Finished jobs refuse (409); without parts, cancel is as before."""

import threading

from orchestrator.runtime.client import RuntimeClient
from tests.utils.api import assert_error, call, expect_error, snapshot


def cancel_parts(client, job_id: str, parts) -> dict:
    response = call(client, "POST", f"/jobs/{job_id}:cancel", json={"parts": parts})
    assert response.status_code == 200, response.text
    return response.json()


def test_parts_of_an_open_job_are_added_in_order_and_the_job_stays_open(world):
    admin, job_id = world["admin"], world["open_job"]["id"]
    job = cancel_parts(admin, job_id, ["generate", "analyse"])
    assert (job["status"], job["cancelled_parts"]) == ("open", ["generate", "analyse"])
    # a set union that keeps the order names were first cancelled in; repeats within a request count once
    job = cancel_parts(admin, job_id, ["analyse", "report", "report", "generate", "plot"])
    assert job["cancelled_parts"] == ["generate", "analyse", "report", "plot"]
    assert admin.get_job(job_id).cancelled_parts == ["generate", "analyse", "report", "plot"]
    assert cancel_parts(admin, job_id, ["plot"]) == admin.get(f"/jobs/{job_id}")  # nothing new: unchanged
    # the job is still claimable, and still open to be cancelled as a whole afterwards
    op = world["site"].claim_job(job_id)
    assert op["job_id"] == job_id
    assert admin.cancel_job(job_id).status == "claimed"
    assert admin.get_operation(op["id"]).cancel_requested


def test_parts_of_a_claimed_job_reach_the_site_in_its_heartbeat(world, make_site):
    admin, site, op = world["admin"], world["site"], world["op"]
    job_id = world["claimed_job"]["id"]
    other_job = admin.create_job("wf", [], id="other-claimed")
    other_op = site.claim_job(other_job["id"])
    assert [s["cancelled_parts"] for s in site.heartbeat([op["id"], other_op["id"]])["operations"]] == [[], []]

    job = admin.cancel_job(job_id, parts=["a", "b"])  # the client method
    assert (job.status, job.cancelled_parts) == ("claimed", ["a", "b"])
    operation = admin.get_operation(op["id"])
    assert not operation.cancel_requested and not operation.done  # the run goes on
    beat = site.heartbeat([op["id"], other_op["id"]])
    assert {s["id"]: s["cancelled_parts"] for s in beat["operations"]} == {op["id"]: ["a", "b"], other_op["id"]: []}
    # the site holding the job may cancel parts of it too; another site may not
    assert site.cancel_job(job_id, parts=["c"]).cancelled_parts == ["a", "b", "c"]
    other = make_site("site-b", ["py"])
    expect_error(403, "NOT_OWNER", other.cancel_job, job_id, parts=["d"])
    expect_error(403, "NOT_OWNER", other.cancel_job, world["open_job"]["id"], parts=["d"])
    assert admin.get_job(job_id).cancelled_parts == ["a", "b", "c"]
    # the outcome is reported as usual; then the job is finished and its parts can no longer be cancelled
    site.update_operation(op["id"], done=True, result={"ok": True})
    expect_error(409, "INVALID_TRANSITION", admin.cancel_job, job_id, parts=["e"])
    assert admin.get_job(job_id).cancelled_parts == ["a", "b", "c"]


def test_parts_of_finished_jobs_cannot_be_cancelled(world):
    admin, site = world["admin"], world["site"]
    admin.cancel_job(world["open_job"]["id"])  # cancelled as a whole
    failed = world["op"]
    site.update_operation(failed["id"], done=True, error={"code": "TASK_FAILED", "message": "x"})
    for job_id, status in ((world["open_job"]["id"], "cancelled"), (world["claimed_job"]["id"], "failed")):
        response = call(admin, "POST", f"/jobs/{job_id}:cancel", json={"parts": ["a"]})
        body = assert_error(response, 409, "INVALID_TRANSITION")
        assert status in body["message"] and body["details"] == {"id": job_id, "status": status}
        job = admin.get_job(job_id)
        assert (job.status, job.cancelled_parts) == (status, [])
    assert_error(call(admin, "POST", "/jobs/no-such-job:cancel", json={"parts": ["a"]}), 404, "JOB_NOT_FOUND")


def test_a_cancel_without_parts_cancels_the_whole_job(world):
    admin = world["admin"]
    empty_body = call(admin, "POST", f"/jobs/{world['open_job']['id']}:cancel", json={})
    assert empty_body.status_code == 200 and empty_body.json()["status"] == "cancelled"
    explicit_null = call(admin, "POST", f"/jobs/{world['claimed_job']['id']}:cancel", json={"parts": None})
    assert explicit_null.status_code == 200 and explicit_null.json()["cancelled_parts"] == []
    assert admin.get_operation(world["op"]["id"]).cancel_requested


def test_bad_parts_are_refused_and_change_nothing(world, store):
    admin, job_id = world["admin"], world["open_job"]["id"]
    before = snapshot(admin, store)
    for body in (
        {"parts": []},  # nothing named is not a whole-job cancel
        {"parts": [""]},
        {"parts": ["x" * 201]},
        {"parts": [5]},
        {"parts": "a"},
        {"parts": ["a"] * 1001},
        {"part": ["a"]},
    ):
        assert_error(call(admin, "POST", f"/jobs/{job_id}:cancel", json=body), 422)
    expect_error(422, "INVALID_ARGUMENT", admin.cancel_job, job_id, parts=[])
    assert snapshot(admin, store) == before


def test_concurrent_part_cancels_are_all_kept(world):
    """Each of 8 clients cancels its own parts at the same moment: no read-modify-write loses one."""
    admin, job_id = world["admin"], world["claimed_job"]["id"]
    clients = [RuntimeClient(admin.base_url, admin.credentials, max_retries=1) for _ in range(8)]
    for client in clients:
        client.token()
    barrier = threading.Barrier(len(clients))
    errors = []

    def cancel(index: int, client: RuntimeClient) -> None:
        try:
            for round_ in range(3):
                barrier.wait(timeout=30)
                client.cancel_job(job_id, parts=[f"c{index}-r{round_}", "shared"])
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=cancel, args=pair) for pair in enumerate(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    parts = admin.get_job(job_id).cancelled_parts
    assert sorted(parts) == sorted({"shared"} | {f"c{i}-r{r}" for i in range(8) for r in range(3)})
    assert len(parts) == len(set(parts)) == 25
    rounds = [int(part.rsplit("-r", 1)[1]) for part in parts if part != "shared"]
    assert rounds == sorted(rounds)  # each round's names come after the previous round's: order is kept
