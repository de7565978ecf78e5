"""The claim sensor of a workflow against a live runtime: it claims no more open jobs than the site
has free run slots, launches one run per claim keyed by the operation id, and never raises on a lost race."""

from datetime import datetime

import dagster as dg
import pytest
import requests

from orchestrator.sensors import make_claim_sensor, make_reconcile_sensor
from orchestrator.workflows import WorkflowSpec
from orchestrator.workflows.common import (
    JOB_TAG,
    MAX_RUNTIME_TAG,
    OPERATION_TAG,
    PRIORITY_TAG,
    SHARE_TAG,
    SITE_TAG,
    WORKFLOW_TAG,
)
from tests.sensors.support import METADATA_IN, RequestLog, add_run, open_jobs, site_named, submit, tick


@pytest.fixture
def sensor():
    return make_claim_sensor(METADATA_IN)


def job(admin, job_id: str) -> dict:
    return admin.get(f"/jobs/{job_id}")


def add_runs(instance, tags: dict, *statuses: dg.DagsterRunStatus) -> None:
    for status in statuses:
        add_run(instance, tags, status)


def test_claims_only_as_many_jobs_as_free_slots(sensor, instance, site, admin):
    idle = tick(sensor, instance, site)
    assert idle.skip_reason.skip_message == f"No open {METADATA_IN.id} jobs to claim." and idle.cursor == ""
    jobs = open_jobs(admin, 5)
    result = tick(sensor, instance, site, max_runs_per_workflow=2, lease_seconds=900)
    assert len(result.run_requests) == 2
    assert not {SHARE_TAG, PRIORITY_TAG} & set(result.run_requests[0].tags)  # jobs without a share
    for request, job_id in zip(result.run_requests, jobs[:2], strict=True):
        claimed = job(admin, job_id)
        assert claimed["status"] == "claimed" and request.run_key == claimed["operation_id"]
        assert request.tags == {
            JOB_TAG: job_id,
            OPERATION_TAG: request.run_key,
            WORKFLOW_TAG: METADATA_IN.id,
            SITE_TAG: site.id,
        }
        op = admin.get(f"/operations/{request.run_key}")
        assert op["site_id"] == site.id and op["job_id"] == job_id and not op["done"]
        lease = datetime.fromisoformat(op["lease_expires_at"]) - datetime.fromisoformat(op["created_at"])
        assert lease.total_seconds() == pytest.approx(900, abs=5)  # the site's lease, not the runtime's default
    assert [job(admin, job_id)["status"] for job_id in jobs[2:]] == ["open"] * 3


def test_busy_slots_claim_nothing(sensor, instance, site, admin):
    jobs = open_jobs(admin, 3)
    mine = {WORKFLOW_TAG: METADATA_IN.id, SITE_TAG: site.id}
    add_runs(instance, mine, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.QUEUED)
    result = tick(sensor, instance, site, max_runs_per_workflow=2)
    assert isinstance(result, dg.SkipReason)
    assert result.skip_message == f"All 2 run slots for {METADATA_IN.id} are busy."
    assert [job(admin, job_id)["status"] for job_id in jobs] == ["open"] * 3


def test_only_this_sites_live_runs_of_this_workflow_take_slots(sensor, instance, site, admin):
    jobs = open_jobs(admin, 3)
    add_runs(
        instance,
        {WORKFLOW_TAG: METADATA_IN.id, SITE_TAG: site.id},
        dg.DagsterRunStatus.STARTED,
        dg.DagsterRunStatus.SUCCESS,
        dg.DagsterRunStatus.FAILURE,
        dg.DagsterRunStatus.CANCELED,
    )
    add_runs(instance, {WORKFLOW_TAG: METADATA_IN.id, SITE_TAG: "site-b"}, dg.DagsterRunStatus.STARTED)
    add_runs(instance, {WORKFLOW_TAG: "other-1.0.0", SITE_TAG: site.id}, dg.DagsterRunStatus.STARTED)
    result = tick(sensor, instance, site, max_runs_per_workflow=3)
    assert [r.tags[JOB_TAG] for r in result.run_requests] == jobs[:2]


def test_jobs_another_site_claimed_are_passed_over_not_lost_races(sensor, instance, site, admin, make_site):
    jobs = open_jobs(admin, 4)
    rival = make_site("site-b")
    rival.claim_job(jobs[0])  # site-b won the oldest between our ticks
    rival.claim_job(jobs[1])
    result = tick(sensor, instance, site, max_runs_per_workflow=2)
    assert [r.tags[JOB_TAG] for r in result.run_requests] == jobs[2:]
    assert admin.get(f"/operations/{job(admin, jobs[0])['operation_id']}")["site_id"] == "site-b"


def test_one_request_claims_a_whole_tick(sensor, instance, site, admin, monkeypatch):
    open_jobs(admin, 5)
    log = RequestLog(site.client, monkeypatch)
    result = tick(sensor, instance, site, max_runs_per_workflow=3)
    assert len(result.run_requests) == 3
    assert log.writes() == [("POST", "/jobs:claimNext")]
    (body,) = log.to("POST", "/jobs:claimNext")
    assert body["workflow_id"] == METADATA_IN.id and body["max_jobs"] == 3


def unreachable_after_sending(client, monkeypatch, deliver: bool) -> list[str]:
    """The runtime goes away: each request is (if `deliver`) processed, but no reply comes back."""
    send, claimed = client.session.request, []

    def lost(method, url, **kwargs):
        if deliver:
            claimed.extend(op["id"] for op in send(method, url, **kwargs).json()["operations"])
        raise requests.ConnectionError("connection refused")

    monkeypatch.setattr(client, "max_retries", 0)
    monkeypatch.setattr(client, "token", lambda: client.__dict__.get("_token") or "token")
    monkeypatch.setattr(client.session, "request", lost)
    return claimed


def test_an_unreachable_runtime_skips_and_keeps_the_claims_key(sensor, instance, site, admin, monkeypatch):
    jobs = open_jobs(admin, 2)
    unreachable_after_sending(site.client, monkeypatch, deliver=False)
    result = tick(sensor, instance, site)
    assert result.skip_reason.skip_message.startswith("UNREACHABLE: ") and not result.run_requests
    assert len(result.cursor) >= 16  # the claim's idempotency key, kept for the next tick
    assert [job(admin, job_id)["status"] for job_id in jobs] == ["open", "open"]


def test_a_claim_committed_as_the_runtime_died_is_run_on_the_next_tick(sensor, instance, site, admin, monkeypatch):
    """The claim commits, then the runtime dies before answering, for longer than the client retries.
    The next tick sends the same key and launches exactly those operations; nothing waits for a lease."""
    jobs = open_jobs(admin, 3)
    site.client.token()  # a real token, so the lost request is a real claim
    claimed = unreachable_after_sending(site.client, monkeypatch, deliver=True)
    first = tick(sensor, instance, site, max_runs_per_workflow=2)
    assert not first.run_requests and len(claimed) == 2
    assert [job(admin, job_id)["status"] for job_id in jobs] == ["claimed", "claimed", "open"]

    monkeypatch.undo()  # the runtime is back
    second = tick(sensor, instance, site, cursor=first.cursor, max_runs_per_workflow=2)
    assert [r.run_key for r in second.run_requests] == claimed and second.cursor == ""
    assert [job(admin, job_id)["status"] for job_id in jobs] == ["claimed", "claimed", "open"]
    assert len(admin.get("/operations")["items"]) == 2

    third = tick(sensor, instance, site, cursor=second.cursor, max_runs_per_workflow=3)
    assert [r.tags[JOB_TAG] for r in third.run_requests] == jobs[2:]  # a new key claims anew


def test_a_pending_claim_whose_operations_ended_launches_nothing(sensor, instance, site, admin, monkeypatch):
    jobs = open_jobs(admin, 1)
    site.client.token()
    claimed = unreachable_after_sending(site.client, monkeypatch, deliver=True)
    first = tick(sensor, instance, site)
    (op_id,) = claimed
    monkeypatch.undo()
    admin.post(f"/jobs/{jobs[0]}:release")  # meanwhile the claim was taken back
    second = tick(sensor, instance, site, cursor=first.cursor)
    assert not second.run_requests and second.cursor == ""
    assert admin.get(f"/operations/{op_id}")["done"]


def test_a_site_without_the_workflows_capability_skips(instance, registered, admin, make_site, server):
    spec = WorkflowSpec(id="needs-gpu-1.0.0", name="Needs a GPU", job=METADATA_IN.job, capability_ids=("gpu",))
    admin.put(
        f"/workflows/{spec.id}",
        {"id": spec.id, "name": spec.name, "dagster_job": spec.job.name, "capability_ids": ["gpu"]},
    )
    (job_id,) = open_jobs(admin, 1, workflow_id=spec.id)
    sensor = make_claim_sensor(spec)

    result = tick(sensor, instance, site_named(make_site, server, "cpu-only"))
    assert result.skip_reason.skip_message.startswith("MISSING_CAPABILITY: ")
    assert "gpu" in result.skip_reason.skip_message and job(admin, job_id)["status"] == "open"

    (request,) = tick(sensor, instance, site_named(make_site, server, "gpu-site", ["gpu"])).run_requests
    assert request.tags[JOB_TAG] == job_id and request.tags[WORKFLOW_TAG] == spec.id


def test_a_claim_whose_reply_was_lost_is_run_not_stranded(sensor, instance, site, admin, monkeypatch):
    """The claim request wins on the runtime but its reply is lost; the client's retry (same idempotency
    key) gets the same operations back instead of claiming more or stranding these."""
    jobs = open_jobs(admin, 3)
    client, send, lost = site.client, site.client.session.request, []

    def lose_first_claim_reply(method, url, **kwargs):
        response = send(method, url, **kwargs)
        if url.endswith(":claimNext") and not lost:
            lost.extend(op["id"] for op in response.json()["operations"])
            raise requests.ConnectionError("connection reset before the reply arrived")
        return response

    monkeypatch.setattr(client, "backoff_seconds", 0.01)
    monkeypatch.setattr(client.session, "request", lose_first_claim_reply)
    result = tick(sensor, instance, site, max_runs_per_workflow=2)
    assert [r.run_key for r in result.run_requests] == lost and len(lost) == 2
    assert [job(admin, job_id)["status"] for job_id in jobs] == ["claimed", "claimed", "open"]
    assert len(admin.get("/operations")["items"]) == 2


def test_claim_ahead_holds_that_many_more_in_dagsters_queue(sensor, instance, site, admin):
    jobs = open_jobs(admin, 6)
    add_runs(instance, {WORKFLOW_TAG: METADATA_IN.id, SITE_TAG: site.id}, dg.DagsterRunStatus.STARTED)
    result = tick(sensor, instance, site, max_runs_per_workflow=2, claim_ahead=2)
    assert [r.tags[JOB_TAG] for r in result.run_requests] == jobs[:3]  # 2 slots + 2 ahead - 1 busy


def test_a_paused_site_claims_nothing_and_says_so_until_resumed(sensor, instance, site, admin):
    """`orchestrator site pause`: the claim sensor's skip reason (the Dagster UI's tick history) says why;
    the lease sensor shows the mode on every tick; `resume` claims again."""
    (job_id,) = open_jobs(admin, 1)
    site.client.pause_site(site.id)
    skipped = tick(sensor, instance, site)
    assert skipped.run_requests is None or skipped.run_requests == []
    assert (
        "is paused" in skipped.skip_reason.skip_message
        and "orchestrator site resume" in skipped.skip_reason.skip_message
    )
    assert job(admin, job_id)["status"] == "open"
    site.client.start_maintenance(site.id)
    lease = tick(make_reconcile_sensor(), instance, site)
    assert lease.skip_reason.skip_message.startswith("SITE PAUSED: nothing new is claimed")
    assert "DATABASE MAINTENANCE: database actions wait" in lease.skip_reason.skip_message
    site.client.end_maintenance(site.id)
    site.client.resume_site(site.id)
    assert "SITE PAUSED" not in tick(make_reconcile_sensor(), instance, site).skip_reason.skip_message
    (request,) = tick(sensor, instance, site).run_requests
    assert request.tags[JOB_TAG] == job_id


def test_the_sites_maximum_runtime_is_the_runs_dagster_max_runtime_tag(sensor, instance, site, admin):
    open_jobs(admin, 2)
    (untagged,) = tick(sensor, instance, site, max_runs_per_workflow=1).run_requests
    assert MAX_RUNTIME_TAG not in untagged.tags
    (tagged,) = tick(sensor, instance, site, max_runs_per_workflow=2, run_max_runtime_seconds=600).run_requests
    assert tagged.tags[MAX_RUNTIME_TAG] == "600"


def test_a_flooded_workspace_leaves_the_next_free_slot_to_another(sensor, instance, site, admin):
    """Fair shares at a site: 12 jobs of one workspace fill its 3 slots; a job of another workspace, submitted
    after them all, takes the first slot that frees (not the 13th)."""

    def shared(workspace: str, count: int) -> list[str]:
        objects = submit(admin, count, tag=f"input-{workspace}")
        return [admin.create_job(METADATA_IN.id, [o["id"]], share=workspace)["id"] for o in objects]

    flood = shared("busy", 12)
    first = tick(sensor, instance, site, max_runs_per_workflow=3)
    assert [r.tags[JOB_TAG] for r in first.run_requests] == flood[:3]
    # Dagster's queue, should the runs wait in it, starts a share's later runs after other shares' first
    assert [(r.tags[SHARE_TAG], r.tags[PRIORITY_TAG]) for r in first.run_requests] == [
        ("busy", "0"),
        ("busy", "-1"),
        ("busy", "-2"),
    ]
    (other,) = shared("quiet", 1)
    runs = [add_run(instance, request.tags, dg.DagsterRunStatus.STARTED) for request in first.run_requests]
    assert isinstance(tick(sensor, instance, site, max_runs_per_workflow=3), dg.SkipReason)  # no slot free
    # one run ends (its job reported): the freed slot goes to the other workspace's job
    site.client.update_operation(runs[0].tags[OPERATION_TAG], done=True, result={})
    instance.report_run_canceled(runs[0])
    (request,) = tick(sensor, instance, site, max_runs_per_workflow=3).run_requests
    assert (request.tags[JOB_TAG], request.tags[SHARE_TAG], request.tags[PRIORITY_TAG]) == (other, "quiet", "0")
    add_run(instance, request.tags, dg.DagsterRunStatus.STARTED)
    # and the flood goes on in its order with the next free slot
    site.client.update_operation(runs[1].tags[OPERATION_TAG], done=True, result={})
    instance.report_run_canceled(runs[1])
    (request,) = tick(sensor, instance, site, max_runs_per_workflow=3).run_requests
    assert (request.tags[JOB_TAG], request.tags[PRIORITY_TAG]) == (flood[3], "-1")  # busy has one run left
