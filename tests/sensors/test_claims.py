"""The claim sensor of a workflow against a live runtime: it claims no more open jobs than the site
has free run slots, launches one run per claim keyed by the operation id, and never raises on a lost race."""
from datetime import datetime

import dagster as dg
import pytest
import requests

from orchestrator.runtime.client import RuntimeClientError
from orchestrator.sensors import make_claim_sensor
from orchestrator.workflows import WorkflowSpec
from orchestrator.workflows.common import JOB_TAG, OPERATION_TAG, SITE_TAG, WORKFLOW_TAG
from tests.sensors.support import METADATA_IN, add_run, open_jobs, site_named, tick


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
    assert isinstance(idle, dg.SkipReason) and idle.skip_message == f"No open {METADATA_IN.id} jobs to claim."
    jobs = open_jobs(admin, 5)
    result = tick(sensor, instance, site, max_runs_per_workflow=2, lease_seconds=900)
    assert len(result.run_requests) == 2
    for request, job_id in zip(result.run_requests, jobs[:2]):
        claimed = job(admin, job_id)
        assert claimed["status"] == "claimed" and request.run_key == claimed["operation_id"]
        assert request.tags == {JOB_TAG: job_id, OPERATION_TAG: request.run_key, WORKFLOW_TAG: METADATA_IN.id, SITE_TAG: site.id}
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
    add_runs(instance, {WORKFLOW_TAG: METADATA_IN.id, SITE_TAG: site.id}, dg.DagsterRunStatus.STARTED,
             dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)
    add_runs(instance, {WORKFLOW_TAG: METADATA_IN.id, SITE_TAG: "site-b"}, dg.DagsterRunStatus.STARTED)
    add_runs(instance, {WORKFLOW_TAG: "other-1.0.0", SITE_TAG: site.id}, dg.DagsterRunStatus.STARTED)
    result = tick(sensor, instance, site, max_runs_per_workflow=3)
    assert [r.tags[JOB_TAG] for r in result.run_requests] == jobs[:2]


def test_a_job_claimed_by_another_site_meanwhile_is_skipped(sensor, instance, site, admin, make_site, server, monkeypatch):
    jobs = open_jobs(admin, 3)
    rival = make_site("site-b")
    claim = site.client.claim_job

    def claim_after_rival(job_id, lease_seconds=None):
        if job_id == jobs[0]:
            rival.claim_job(job_id)  # site-b wins the race between our listing and our claim
        return claim(job_id, lease_seconds)

    monkeypatch.setattr(site.client, "claim_job", claim_after_rival)
    result = tick(sensor, instance, site, max_runs_per_workflow=2)
    assert [r.tags[JOB_TAG] for r in result.run_requests] == jobs[1:]
    assert admin.get(f"/operations/{job(admin, jobs[0])['operation_id']}")["site_id"] == "site-b"


def test_an_error_after_some_claims_still_launches_their_runs(sensor, instance, site, admin, monkeypatch):
    """A claim won is a run owed: else the job sits claimed with no run until its lease expires, and loses an attempt."""
    jobs = open_jobs(admin, 3)
    claim = site.client.claim_job

    def unreachable_for_the_second(job_id, lease_seconds=None):
        if job_id == jobs[1]:
            raise RuntimeClientError(0, "UNREACHABLE", "Runtime unreachable (after retries).")
        return claim(job_id, lease_seconds)

    monkeypatch.setattr(site.client, "claim_job", unreachable_for_the_second)
    result = tick(sensor, instance, site, max_runs_per_workflow=3)
    claimed = [job_id for job_id in jobs if job(admin, job_id)["status"] == "claimed"]
    assert jobs[0] in claimed and [r.tags[JOB_TAG] for r in result.run_requests] == claimed


def test_a_site_without_the_workflows_capability_skips(instance, registered, admin, make_site, server):
    spec = WorkflowSpec(id="needs-gpu-1.0.0", name="Needs a GPU", job=METADATA_IN.job, capability_ids=("gpu",))
    admin.put(f"/workflows/{spec.id}", {"id": spec.id, "name": spec.name, "dagster_job": spec.job.name, "capability_ids": ["gpu"]})
    (job_id,) = open_jobs(admin, 1, workflow_id=spec.id)
    sensor = make_claim_sensor(spec)

    result = tick(sensor, instance, site_named(make_site, server, "cpu-only"))
    assert isinstance(result, dg.SkipReason) and result.skip_message.startswith("MISSING_CAPABILITY: ")
    assert "gpu" in result.skip_message and job(admin, job_id)["status"] == "open"

    (request,) = tick(sensor, instance, site_named(make_site, server, "gpu-site", ["gpu"])).run_requests
    assert request.tags[JOB_TAG] == job_id and request.tags[WORKFLOW_TAG] == spec.id


def test_a_claim_whose_reply_was_lost_is_run_not_stranded(sensor, instance, site, admin, monkeypatch):
    """The first claim request wins on the runtime but its reply is lost; the client's retry gets 409."""
    (job_id,) = open_jobs(admin, 1)
    client, send, lost = site.client, site.client.session.request, []

    def lose_first_claim_reply(method, url, **kwargs):
        response = send(method, url, **kwargs)
        if url.endswith(":claim") and not lost:
            lost.append(response.json()["id"])
            raise requests.ConnectionError("connection reset before the reply arrived")
        return response

    monkeypatch.setattr(client, "backoff_seconds", 0.01)
    monkeypatch.setattr(client.session, "request", lose_first_claim_reply)
    (request,) = tick(sensor, instance, site).run_requests
    assert request.run_key == request.tags[OPERATION_TAG] == lost[0] == job(admin, job_id)["operation_id"]


def test_when_rivals_won_the_first_page_the_sensor_pages_on(sensor, instance, site, admin, make_site, monkeypatch):
    jobs = open_jobs(admin, 6)
    rival = make_site("site-b")
    claim = site.client.claim_job

    def rival_wins_the_oldest_four(job_id, lease_seconds=None):
        if job_id in jobs[:4]:
            rival.claim_job(job_id)  # another site won each of them between our listing and our claim
        return claim(job_id, lease_seconds)

    monkeypatch.setattr(site.client, "claim_job", rival_wins_the_oldest_four)
    result = tick(sensor, instance, site, max_runs_per_workflow=2)  # pages of 4: the first is all lost
    assert [r.tags[JOB_TAG] for r in result.run_requests] == jobs[4:]
