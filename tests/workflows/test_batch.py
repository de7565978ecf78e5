"""Batches of light jobs against a live runtime: the claim sensor claims a batch per free run slot and
spreads it over as few runs as hold it; one run reports each job on its own (a failing job fails alone,
a job no longer the run's is skipped); a run that dies has the jobs it had not reported released once by
the reconcile sensor; cancelling one job of a live batch reports it without stopping the others."""

from collections import Counter

import dagster as dg
import pytest

from orchestrator.runtime.client import RuntimeClientError
from orchestrator.runtime.models import Workflow
from orchestrator.sensors import make_claim_sensor, make_reconcile_sensor
from orchestrator.sensors.claims import split_evenly
from orchestrator.workflows import WorkflowSpec
from orchestrator.workflows.batch import KIND_TAG, batch_job
from orchestrator.workflows.common import (
    BATCH_PREFIX,
    BATCH_SIZE_TAG,
    JOB_TAG,
    OPERATION_TAG,
    SITE_TAG,
    WORKFLOW_TAG,
    WorkflowFailure,
    run_operations,
)
from tests.sensors.support import METADATA_IN, RequestLog, add_run, tick

S = dg.DagsterRunStatus


SEEN = Counter()  # jobs begun per run


def echo_or_fail(context: dg.OpExecutionContext, job_input) -> dict:
    name = job_input.objects[0]["name"]
    SEEN[context.run_id] += 1
    if name.startswith("bad"):
        raise WorkflowFailure("BAD_NOTE", f"{name} is not a note")
    if job_input.config.get("crash_at") == SEEN[context.run_id]:  # the runtime goes away mid-batch: the run dies
        raise RuntimeClientError(503, "UNAVAILABLE", "the runtime is restarting")
    return {"echo": [name], "bytes": len(open(job_input.paths[0], "rb").read())}


LIGHT = WorkflowSpec(id="light-echo-1.0.0", name="Light echo", job=batch_job("light_echo", echo_or_fail), batch_size=5)


@pytest.fixture
def light(registered):
    registered.put_workflow(Workflow(id=LIGHT.id, name=LIGHT.name, dagster_job=LIGHT.job.name))
    return registered


def open_light_jobs(admin, *names: str, **config) -> list[str]:
    objects = [admin.create_object(name.encode(), name=name, types=["metadata-in"]) for name in names]
    return [admin.create_job(LIGHT.id, [obj["id"]], config=config)["id"] for obj in objects]


def claim(instance, site, **settings) -> list[dg.RunRequest]:
    result = tick(make_claim_sensor(LIGHT), instance, site, **settings)
    return result.run_requests


def execute(instance, site, request: dg.RunRequest):
    return LIGHT.job.execute_in_process(
        instance=instance, tags=request.tags, resources=site.resources(), raise_on_error=False
    )


def status(admin, job_id: str) -> str:
    return admin.get(f"/jobs/{job_id}")["status"]


def test_batches_are_as_few_as_hold_the_jobs_and_even():
    ops = list(range(7))
    assert split_evenly(ops, 5, 4) == [[0, 2, 4, 6], [1, 3, 5]]
    assert split_evenly(ops, 5, 1) == [ops]  # the claim asked for no more than one run holds
    assert split_evenly(ops, 2, 3) == [[0, 3, 6], [1, 4], [2, 5]]  # no more runs than free slots
    assert split_evenly([], 5, 4) == []
    assert split_evenly(ops[:1], 5, 4) == [[0]]


def test_a_batch_size_needs_a_batch_job():
    assert LIGHT.job.tags[KIND_TAG] == "batch"
    with pytest.raises(ValueError, match="needs a job made by batch_job"):
        WorkflowSpec(id="x", name="x", job=METADATA_IN.job, batch_size=2)


def test_the_claim_sensor_claims_a_batch_per_free_slot(instance, site, light):
    jobs = open_light_jobs(light, *[f"note-{i}" for i in range(7)])
    requests = claim(instance, site, max_runs_per_workflow=2)
    assert [len(run_operations(r.tags)) for r in requests] == [4, 3]
    held = dict(pair for r in requests for pair in run_operations(r.tags))
    assert sorted(held) == sorted(jobs) and all(status(light, j) == "claimed" for j in jobs)
    for request in requests:
        pairs = run_operations(request.tags)
        assert request.tags[BATCH_SIZE_TAG] == str(len(pairs)) and request.tags[SITE_TAG] == site.id
        assert request.tags[WORKFLOW_TAG] == LIGHT.id and request.run_key in {op for _, op in pairs}
        for job_id, op_id in pairs:
            assert light.get(f"/jobs/{job_id}")["operation_id"] == op_id == request.tags[BATCH_PREFIX + job_id]
    (single,) = open_light_jobs(light, "alone")
    add_run(instance, {WORKFLOW_TAG: LIGHT.id, SITE_TAG: site.id}, S.STARTED)  # one slot busy, one free
    (request,) = claim(instance, site, max_runs_per_workflow=2)
    assert request.tags[JOB_TAG] == single and OPERATION_TAG in request.tags  # one job: a plain run's tags


def test_each_job_is_reported_on_its_own_and_a_failure_fails_only_its_job(instance, site, light, monkeypatch):
    jobs = open_light_jobs(light, "note-a", "bad-b", "note-c", "note-d")
    (request,) = claim(instance, site, max_runs_per_workflow=1)
    log = RequestLog(site.client, monkeypatch)
    result = execute(instance, site, request)

    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.user_failure_data
    assert failure.description == f"BATCH_JOBS_FAILED: 1 of 4 jobs failed: {jobs[1]} (BAD_NOTE)"
    assert [status(light, j) for j in jobs] == ["succeeded", "failed", "succeeded", "succeeded"]
    ops = {job_id: light.get(f"/operations/{light.get(f'/jobs/{job_id}')['operation_id']}") for job_id in jobs}
    assert ops[jobs[0]]["result"] == {"echo": ["note-a"], "bytes": 6}
    assert ops[jobs[1]]["error"] == {"code": "BAD_NOTE", "message": "bad-b is not a note", "details": {}}
    assert all(op["metadata"]["dagster_run_id"] == result.run_id for op in ops.values())
    patched = [path for method, path in log.writes() if method == "PATCH"]
    assert sorted(patched) == sorted(f"/operations/{op['id']}" for op in ops.values())  # each reported once
    lines = [e.user_message for e in instance.all_logs(result.run_id) if e.user_message.startswith("job ")]
    assert sorted(lines) == sorted(
        f"job {job_id} (operation {op['id']}) "
        + ("failed: BAD_NOTE: bad-b is not a note" if op["error"] else "succeeded")
        for job_id, op in ops.items()
    )


def test_a_job_that_is_no_longer_the_runs_is_skipped(instance, site, light):
    jobs = open_light_jobs(light, "note-a", "note-b", "note-c")
    (request,) = claim(instance, site, max_runs_per_workflow=1)
    light.post(f"/jobs/{jobs[1]}:release")  # back in the queue: someone else's to run now
    result = execute(instance, site, request)
    assert result.success
    assert [status(light, j) for j in jobs] == ["succeeded", "open", "succeeded"]
    assert result.output_for_node("light_echo_batch") == {"succeeded": 2, "failed": 0, "skipped": 1}


def test_a_batch_run_that_dies_has_its_unreported_jobs_released_once(instance, site, light, monkeypatch):
    open_light_jobs(light, "note-a", "note-b", "note-c", "note-d", crash_at=2)
    (request,) = claim(instance, site, max_runs_per_workflow=1)
    jobs = [job_id for job_id, _ in run_operations(request.tags)]  # the order the run takes them in
    result = execute(instance, site, request)
    assert not result.success  # the runtime "went away" at the second job: the run died there
    assert [status(light, j) for j in jobs] == ["succeeded", "claimed", "claimed", "claimed"]

    reconcile = make_reconcile_sensor()
    first = tick(reconcile, instance, site)
    for job_id in jobs[1:]:
        assert f"released job {job_id} after run {result.run_id} crashed" in first.skip_reason.skip_message
    assert [status(light, j) for j in jobs] == ["succeeded", "open", "open", "open"]
    log = RequestLog(site.client, monkeypatch)
    tick(reconcile, instance, site, first.cursor)
    assert [w for w in log.writes() if w[1] != "/operations:heartbeat"] == []  # each released once, not again
    again = claim(instance, site, max_runs_per_workflow=1)
    assert sorted(job for r in again for job, _ in run_operations(r.tags)) == sorted(jobs[1:])


def test_cancelling_one_job_of_a_live_batch_reports_it_and_keeps_the_run(instance, site, light):
    jobs = open_light_jobs(light, "note-a", "note-b", "note-c")
    (request,) = claim(instance, site, max_runs_per_workflow=1)
    run = add_run(instance, request.tags, S.QUEUED)
    light.post(f"/jobs/{jobs[0]}:cancel")
    reconcile = make_reconcile_sensor()
    first = tick(reconcile, instance, site)
    op = light.get(f"/operations/{request.tags[BATCH_PREFIX + jobs[0]]}")
    assert op["error"]["code"] == "CANCELLED" and status(light, jobs[0]) == "cancelled"
    assert instance.get_run_by_id(run.run_id).status == S.QUEUED  # the other two still run in it
    assert "reported CANCELLED" in first.skip_reason.skip_message
    for job_id in jobs[1:]:
        light.post(f"/jobs/{job_id}:cancel")
    second = tick(reconcile, instance, site, first.cursor)
    assert instance.get_run_by_id(run.run_id).status == S.CANCELED  # none of its jobs is its own now
    assert f"stopping run {run.run_id}: cancel requested" in second.skip_reason.skip_message
