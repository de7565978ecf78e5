"""The lease/reconcile sensor against a live runtime, with runs in a test instance tagged with real
operations: one heartbeat for all live runs (and one every tick with none, carrying the site's running and
queued runs), stops cancelled or lost runs, settles runs that ended silently."""

import os
import socket
import subprocess
import time
from datetime import datetime

import dagster as dg
import pytest

from orchestrator.sensors import make_reconcile_sensor
from orchestrator.workflows.common import HOST_TAG, MAX_RUNTIME_TAG, PID_TAG, SITE_TAG
from tests.sensors.support import RequestLog, add_run, open_jobs, tick

S = dg.DagsterRunStatus
HEARTBEAT = ("POST", "/operations:heartbeat")


@pytest.fixture
def sensor():
    return make_reconcile_sensor()


def claimed(admin, site, n: int, lease_seconds: int = 60) -> list[dict]:
    """`n` operations: open jobs claimed by `site` through the runtime, as its claim sensor does."""
    return [site.client.claim_job(job_id, lease_seconds) for job_id in open_jobs(admin, n)]


def run_for(instance, site, op: dict, status=S.STARTED, **tags) -> dg.DagsterRun:
    return add_run(instance, {**site.tags(op["job_id"], op["id"]), **tags}, status)


def end(instance, run: dg.DagsterRun, event: dg.DagsterEventType) -> None:
    """The run ends as its worker (or the UI) would end it: by a run event, which moves its update time."""
    instance.report_dagster_event(
        dg.DagsterEvent(event_type_value=event.value, job_name=run.job_name), run_id=run.run_id
    )


def status_of(instance, run: dg.DagsterRun) -> dg.DagsterRunStatus:
    return instance.get_run_by_id(run.run_id).status


def get(admin, kind: str, item_id: str) -> dict:
    return admin.get(f"/{kind}/{item_id}")


def lease_end(admin, op: dict) -> datetime:
    return datetime.fromisoformat(get(admin, "operations", op["id"])["lease_expires_at"])


def test_live_runs_are_renewed_in_one_heartbeat(sensor, instance, site, admin, monkeypatch):
    ops = claimed(admin, site, 3, lease_seconds=30)
    runs = [
        run_for(instance, site, op, status) for op, status in zip(ops, [S.STARTED, S.QUEUED, S.STARTING], strict=True)
    ]
    run_for(
        instance, site, ops[0] | {"id": "op-of-another-site"}, **{SITE_TAG: "site-b"}
    )  # another site's run: not ours to renew
    before = [lease_end(admin, op) for op in ops]
    log = RequestLog(site.client, monkeypatch)

    result = tick(sensor, instance, site, lease_seconds=900)

    (beat,) = log.to(*HEARTBEAT)
    assert sorted(beat["operation_ids"]) == sorted(op["id"] for op in ops) and beat["lease_seconds"] == 900
    assert log.writes() == [HEARTBEAT]
    assert all((lease_end(admin, op) - old).total_seconds() > 800 for op, old in zip(ops, before, strict=True))
    assert [status_of(instance, run) for run in runs] == [S.STARTED, S.QUEUED, S.STARTING]
    assert result.skip_reason.skip_message == "renewed 3 lease(s)"
    assert [get(admin, "jobs", op["job_id"])["status"] for op in ops] == ["claimed"] * 3


def test_runs_the_runtime_no_longer_wants_are_stopped(sensor, instance, site, admin, monkeypatch):
    """A cancel request stops the run and is reported CANCELLED; a lost operation (released by an admin) stops it too."""
    cancelled, lost = claimed(admin, site, 2)
    runs = [run_for(instance, site, op, S.QUEUED) for op in (cancelled, lost)]
    admin.post(f"/jobs/{cancelled['job_id']}:cancel")
    admin.post(f"/jobs/{lost['job_id']}:release")
    assert get(admin, "operations", cancelled["id"])["cancel_requested"]

    first = tick(sensor, instance, site)
    assert [status_of(instance, run) for run in runs] == [S.CANCELED] * 2  # a queued run is cancelled at once
    assert f"stopping run {runs[0].run_id}: cancel requested" in first.skip_reason.skip_message
    assert f"stopping run {runs[1].run_id}: operation closed (RELEASED)" in first.skip_reason.skip_message
    reported = get(admin, "operations", cancelled["id"])  # the same tick settles the cancelled run
    assert reported["error"] == {
        "code": "CANCELLED",
        "message": "The run was cancelled.",
        "details": {"dagster_run_id": runs[0].run_id},
    }
    assert get(admin, "jobs", cancelled["job_id"])["status"] == "cancelled"
    assert get(admin, "operations", lost["id"])["error"]["code"] == "RELEASED"  # not overwritten: someone else's now
    assert get(admin, "jobs", lost["job_id"])["status"] == "open"

    log = RequestLog(site.client, monkeypatch)
    tick(sensor, instance, site, first.cursor)
    assert log.writes() == [HEARTBEAT]  # nothing left to settle: only the site's heartbeat, for no operations
    assert log.to(*HEARTBEAT)[0]["operation_ids"] == []


def test_a_run_whose_operation_already_succeeded_is_left_to_finish(sensor, instance, site, admin):
    """The run reported its result and is wrapping up: it is neither cancelled nor lost."""
    (op,) = claimed(admin, site, 1)
    run = run_for(instance, site, op)
    site.client.update_operation(op["id"], done=True, result={"valid": True})

    tick(sensor, instance, site)
    assert status_of(instance, run) == S.STARTED
    assert get(admin, "jobs", op["job_id"])["status"] == "succeeded"


def test_a_run_the_runtime_refuses_to_settle_does_not_block_the_others(sensor, instance, site, admin):
    refused, crashed = claimed(admin, site, 2)
    # A crashed run whose job tag names no job: its release is refused (404) however often it is retried.
    bad = run_for(instance, site, refused, **{"runtime/job_id": "job-that-does-not-exist"})
    end(instance, bad, dg.DagsterEventType.RUN_FAILURE)
    end(instance, run_for(instance, site, crashed), dg.DagsterEventType.RUN_FAILURE)
    result = tick(sensor, instance, site)
    assert f"could not settle run {bad.run_id}: 404 JOB_NOT_FOUND" in result.skip_reason.skip_message
    assert get(admin, "jobs", crashed["job_id"])["status"] == "open"  # the other crashed run was settled
    ended = instance.get_run_records(dg.RunsFilter(statuses=[S.FAILURE]))
    assert float(result.cursor) == max(record.update_timestamp.timestamp() for record in ended)


def test_runs_that_ended_without_reporting_are_settled_once(sensor, instance, site, admin, monkeypatch):
    crashed, cancelled, silent, reported, later = ops = claimed(admin, site, 5)
    runs = {op["id"]: run_for(instance, site, op) for op in ops}
    site.client.update_operation(reported["id"], done=True, error={"code": "VALIDATION_FAILED", "message": "bad"})
    end(instance, runs[crashed["id"]], dg.DagsterEventType.RUN_FAILURE)
    instance.report_run_canceled(runs[cancelled["id"]])  # "Terminate" in the UI of a run with no worker left
    end(instance, runs[silent["id"]], dg.DagsterEventType.RUN_SUCCESS)
    end(instance, runs[reported["id"]], dg.DagsterEventType.RUN_FAILURE)
    log = RequestLog(site.client, monkeypatch)

    first = tick(sensor, instance, site)

    job = get(admin, "jobs", crashed["job_id"])
    assert (job["status"], job["attempts"]) == ("open", 1)  # a crash before any report: the job is retried
    assert get(admin, "operations", crashed["id"])["error"]["code"] == "RELEASED"
    assert get(admin, "jobs", cancelled["job_id"])["status"] == "cancelled"
    assert get(admin, "operations", cancelled["id"])["error"]["code"] == "CANCELLED"
    silent_op = get(admin, "operations", silent["id"])
    assert silent_op["error"]["code"] == "RUN_ENDED_WITHOUT_REPORT"
    assert silent_op["error"]["details"] == {"dagster_run_id": runs[silent["id"]].run_id}
    assert get(admin, "jobs", silent["job_id"])["status"] == "failed"
    assert get(admin, "operations", reported["id"])["error"] == {
        "code": "VALIDATION_FAILED",
        "message": "bad",
        "details": {},
    }
    assert sorted(log.writes()) == sorted(
        [
            HEARTBEAT,
            ("POST", f"/jobs/{crashed['job_id']}:release"),
            ("PATCH", f"/operations/{cancelled['id']}"),
            ("PATCH", f"/operations/{silent['id']}"),
        ]
    )
    ended = instance.get_run_records(dg.RunsFilter(statuses=[S.SUCCESS, S.FAILURE, S.CANCELED]))
    assert float(first.cursor) == max(record.update_timestamp.timestamp() for record in ended)

    log.calls.clear()
    second = tick(sensor, instance, site, first.cursor)
    assert second.cursor == first.cursor and log.writes() == [HEARTBEAT]  # only the live run's lease

    end(instance, runs[later["id"]], dg.DagsterEventType.RUN_FAILURE)  # ends after the cursor: still seen
    third = tick(sensor, instance, site, second.cursor)
    assert float(third.cursor) > float(second.cursor)
    assert get(admin, "jobs", later["job_id"])["status"] == "open"


def test_an_ended_run_of_an_unknown_operation_does_not_block_the_others(sensor, instance, site, admin):
    """A run tagged with an operation the runtime does not know (a reset runtime, a hand-made run) is passed
    over like a live one is, instead of failing every tick with the cursor stuck before it."""
    (op,) = claimed(admin, site, 1)
    ghost = run_for(instance, site, {"id": "op-unknown", "job_id": "job-unknown"})
    real = run_for(instance, site, op)
    for run in (ghost, real):
        end(instance, run, dg.DagsterEventType.RUN_FAILURE)

    result = tick(sensor, instance, site)
    assert get(admin, "jobs", op["job_id"])["status"] == "open"
    assert float(result.cursor) == instance.get_run_record_by_id(real.run_id).update_timestamp.timestamp()


def test_a_run_whose_local_worker_died_is_failed_and_its_job_released(sensor, instance, site, admin, monkeypatch):
    dead, live = claimed(admin, site, 2)
    worker = subprocess.Popen(["true"])
    worker.wait()  # its pid is now free: no such process
    here = socket.gethostname()
    orphan = run_for(instance, site, dead, **{HOST_TAG: here, PID_TAG: str(worker.pid)})
    running = run_for(instance, site, live, **{HOST_TAG: here, PID_TAG: str(os.getpid())})
    log = RequestLog(site.client, monkeypatch)

    result = tick(sensor, instance, site)
    assert status_of(instance, orphan) == S.FAILURE and status_of(instance, running) == S.STARTED
    assert [body["operation_ids"] for body in log.to(*HEARTBEAT)] == [[live["id"]]]
    assert f"run {orphan.run_id} lost its worker" in result.skip_reason.skip_message
    job = get(admin, "jobs", dead["job_id"])  # the same tick then settles the failed run: its job goes back
    assert (job["status"], job["attempts"]) == ("open", 1)
    assert get(admin, "jobs", live["job_id"])["status"] == "claimed"

    log.calls.clear()
    tick(sensor, instance, site, result.cursor)
    assert log.writes() == [HEARTBEAT] and get(admin, "jobs", dead["job_id"])["attempts"] == 1


def test_a_site_with_no_runs_heartbeats_every_tick(sensor, instance, site, admin, monkeypatch):
    """The heartbeat is how the runtime knows the site is up: sent with no operations, and an idle load."""
    assert admin.site_status(site.id).up is False  # never seen
    log = RequestLog(site.client, monkeypatch)
    cursor = None
    for _ in range(2):
        cursor = tick(sensor, instance, site, cursor, lease_seconds=45).cursor
    assert (
        log.to(*HEARTBEAT)
        == [{"operation_ids": [], "lease_seconds": 45, "site_status": {"running": 0, "queued": 0}}] * 2
    )
    assert log.writes() == [HEARTBEAT] * 2
    status = admin.site_status(site.id)
    assert (status.up, status.running, status.queued) == (True, 0, 0)


def test_the_heartbeat_carries_the_sites_running_and_queued_runs(sensor, instance, site, admin, monkeypatch):
    """Running: this site's runs of runtime operations that are STARTED or STARTING; queued: QUEUED or
    NOT_STARTED. A canceling run, another site's run and a run made by hand (no operation) do not count."""
    ops = claimed(admin, site, 6)
    statuses = [S.STARTED, S.STARTING, S.STARTED, S.QUEUED, S.NOT_STARTED, S.CANCELING]
    for op, status in zip(ops, statuses, strict=True):
        run_for(instance, site, op, status)
    run_for(instance, site, ops[0] | {"id": "op-of-another-site"}, **{SITE_TAG: "site-b"})  # another site's
    add_run(instance, {SITE_TAG: site.id}, S.STARTED)  # a run of this site with no runtime operation
    log = RequestLog(site.client, monkeypatch)

    result = tick(sensor, instance, site)

    (beat,) = log.to(*HEARTBEAT)
    assert beat["site_status"] == {"running": 3, "queued": 2}
    assert sorted(beat["operation_ids"]) == sorted(op["id"] for op in ops)
    assert result.skip_reason.skip_message == "renewed 6 lease(s)"
    status = admin.site_status(site.id)
    assert (status.up, status.running, status.queued) == (True, 3, 2)


def test_a_run_dagster_stopped_for_its_maximum_runtime_is_a_timeout_not_a_crash(sensor, instance, site, admin):
    """Dagster's run monitoring fails a run past its `dagster/max_runtime`: the job fails JOB_TIMEOUT, once,
    instead of going back to the queue to run out of time again; a shorter crash is still retried."""
    timed_out, crashed = claimed(admin, site, 2)
    for op in (timed_out, crashed):
        run = run_for(instance, site, op, status=S.STARTING, **{MAX_RUNTIME_TAG: "1"})
        end(instance, run, dg.DagsterEventType.RUN_START)  # what sets the run's start time
        if op is timed_out:
            time.sleep(1.2)  # its limit passes while it runs
        end(instance, run, dg.DagsterEventType.RUN_FAILURE)
    tick(sensor, instance, site)
    error = get(admin, "operations", timed_out["id"])["error"]
    assert error["code"] == "JOB_TIMEOUT" and "maximum runtime of 1 s" in error["message"]
    assert get(admin, "jobs", timed_out["job_id"])["status"] == "failed"
    assert get(admin, "jobs", crashed["job_id"])["status"] == "open"
