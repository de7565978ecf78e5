"""Lease/reconcile sensor: keeps this site's claims honest with the runtime.

Each tick: (1) renews the leases of every operation with a live run, in one heartbeat call per
1,000 runs (one with none when nothing runs: the heartbeat is also how the runtime sees the site is
up, with its running and queued runs), and stops runs whose operation was cancelled or lost (lease
expired, now someone else's); a local run whose worker process is gone is marked failed instead of
kept alive;
(2) settles runs that ended without reporting, with a cursor on run update time so a tick reads
only runs that changed since the last one: a crash returns the job to the queue (release), a
cancel reports CANCELLED, a silent success is a workflow bug reported as an error.

A batch run (orchestrator/workflows/batch.py) holds many operations: it is stopped only when none of
them is still its own; a cancelled job of a running batch is reported CANCELLED here, and the batch
skips it. A batch run that succeeded reported every job itself; one that crashed has its unreported
jobs released, each once.
"""

import os
import signal
import socket
from datetime import UTC, datetime

import dagster as dg

from orchestrator.pipeline.processes import pid_alive
from orchestrator.resources import SiteResource
from orchestrator.runtime.client import RuntimeClient, RuntimeClientError
from orchestrator.runtime.models import Operation
from orchestrator.sensors.claims import IN_PROGRESS
from orchestrator.sensors.evaluation import SensorScope, site_sensor
from orchestrator.workflows.common import HOST_TAG, MAX_RUNTIME_TAG, PID_TAG, SITE_TAG, run_operations

ENDED = [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED]
HEARTBEAT_BATCH = 1000
ENDED_BATCH = 200
LOST = {"LEASE_EXPIRED", "RELEASED"}  # closed by the runtime, not by the run itself: the run must stop
RUNNING = {dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING}
QUEUED = {dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED}


def local_pid(run: dg.DagsterRun) -> int | None:
    if run.tags.get(HOST_TAG) == socket.gethostname() and run.tags.get(PID_TAG, "").isdigit():
        return int(run.tags[PID_TAG])
    return None


def worker_gone(run: dg.DagsterRun) -> bool:
    pid = local_pid(run)
    return run.status == dg.DagsterRunStatus.STARTED and pid is not None and not pid_alive(pid)


def stop_run(instance: dg.DagsterInstance, run: dg.DagsterRun) -> None:
    """Terminate through the run coordinator; if it cannot reach the run (its code server is gone),
    signal a local worker directly, or mark the run canceled if there is no worker left."""
    if instance.run_coordinator.cancel_run(run.run_id):
        return
    pid = local_pid(run)
    if pid and pid_alive(pid):
        os.kill(pid, signal.SIGTERM)
    else:
        instance.report_run_canceled(instance.get_run_by_id(run.run_id), message="Run worker gone; marked canceled.")


def renew_leases(instance: dg.DagsterInstance, client, site: SiteResource) -> list[str]:
    live = instance.get_runs(dg.RunsFilter(tags={SITE_TAG: site.site_id}, statuses=IN_PROGRESS))
    notes = []
    for run in [r for r in live if worker_gone(r)]:
        instance.report_run_failed(
            run, message=f"Run worker (pid {local_pid(run)}) is gone; the job goes back to the queue."
        )
        notes.append(f"run {run.run_id} lost its worker")
    held = {run.run_id: run_operations(run.tags) for run in live if not worker_gone(run)}
    run_of = {op_id: run for run in live for _, op_id in held.get(run.run_id, [])}
    ids = list(run_of)
    load = site_load([run for run in live if held.get(run.run_id)])
    mode, stop, done = {}, {}, set()
    for start in range(0, max(len(ids), 1), HEARTBEAT_BATCH):  # at least one heartbeat: the site is alive
        beat = client.heartbeat(ids[start : start + HEARTBEAT_BATCH], site.lease_seconds, site_status=load)
        mode = beat.get("site") or {}
        done |= {s["id"] for s in beat["operations"] if s["done"]}
        stop |= {s["id"]: "cancel requested" for s in beat["operations"] if s["cancel_requested"] and not s["done"]}
        stop |= {
            s["id"]: f"operation closed ({s['error']['code']})"
            for s in beat["operations"]
            if s["done"] and (s["error"] or {}).get("code") in LOST
        }
        stop |= {op_id: "operation unknown to the runtime" for op_id in beat["missing"]}
    notes += stop_what_lost_its_jobs(instance, client, held, run_of, stop, done)
    shown = [
        *(["SITE PAUSED: nothing new is claimed (`orchestrator site resume`)"] if mode.get("paused") else []),
        *(["DATABASE MAINTENANCE: database actions wait"] if mode.get("maintenance") else []),
    ]
    return [*shown, f"renewed {len(ids)} lease(s)", *notes]


def stop_what_lost_its_jobs(
    instance, client, held: dict, run_of: dict, stop: dict[str, str], done: set[str]
) -> list[str]:
    """Stop each run with an operation to stop and none still open and its own. In a batch run that still
    has work, a cancelled job is reported CANCELLED, so the batch skips it (a lost one it skips by itself)."""
    notes = []
    for run in {run_of[op_id].run_id: run_of[op_id] for op_id in stop}.values():
        ops = [op_id for _, op_id in held[run.run_id]]
        if all(op_id in stop or op_id in done for op_id in ops):
            if run.status != dg.DagsterRunStatus.CANCELING:
                stop_run(instance, run)
                notes.append(f"stopping run {run.run_id}: {next(stop[op_id] for op_id in ops if op_id in stop)}")
            continue
        for op_id in [op_id for op_id in ops if stop.get(op_id) == "cancel requested"]:
            error = {
                "code": "CANCELLED",
                "message": "The job was cancelled.",
                "details": {"dagster_run_id": run.run_id},
            }
            try:
                client.update_operation(op_id, done=True, error=error)
                notes.append(f"reported CANCELLED for {op_id} of batch run {run.run_id}")
            except RuntimeClientError as exc:
                if not exc.conflict:  # the batch reported it first
                    raise
    return notes


def site_load(runs) -> dict[str, int]:
    """The site's load as the runtime shows it: its runs of runtime operations, started or waiting to."""
    statuses = [run.status for run in runs]
    return {"running": sum(s in RUNNING for s in statuses), "queued": sum(s in QUEUED for s in statuses)}


def ran_past_its_limit(run: dg.DagsterRun, ran_seconds: float | None) -> int | None:
    """The run's `dagster/max_runtime` if it ran that long (Dagster's run monitoring stopped it), else None."""
    try:
        limit = int(float(run.tags.get(MAX_RUNTIME_TAG) or 0))
    except ValueError:
        return None
    return limit if limit and ran_seconds is not None and ran_seconds >= limit else None


def settle(
    client: RuntimeClient, run: dg.DagsterRun, job_id: str, op: Operation, ran_seconds: float | None = None
) -> str:
    """Report what an unreported ended run means; returns a note for the tick."""
    details = {"dagster_run_id": run.run_id}
    limit = None if op.cancel_requested else ran_past_its_limit(run, ran_seconds)
    if limit:  # stopped by Dagster for running too long: an outcome, not a crash to retry
        message = f"The run exceeded its maximum runtime of {limit} s ({MAX_RUNTIME_TAG}) and was stopped."
        client.update_operation(op.id, done=True, error={"code": "JOB_TIMEOUT", "message": message, "details": details})
        return f"reported JOB_TIMEOUT for {op.id}"
    if op.cancel_requested or run.status == dg.DagsterRunStatus.CANCELED:
        client.update_operation(
            op.id, done=True, error={"code": "CANCELLED", "message": "The run was cancelled.", "details": details}
        )
        return f"reported CANCELLED for {op.id}"
    if run.status == dg.DagsterRunStatus.FAILURE:  # the worker crashed before any op could report: retry
        client.release_job(job_id, operation_id=op.id)
        return f"released job {job_id} after run {run.run_id} crashed"
    client.update_operation(
        op.id,
        done=True,
        error={
            "code": "RUN_ENDED_WITHOUT_REPORT",
            "message": "The run succeeded but its workflow never reported a result.",
            "details": details,
        },
    )
    return f"reported RUN_ENDED_WITHOUT_REPORT for {op.id}"


def report_ended_runs(
    instance: dg.DagsterInstance, client, site: SiteResource, cursor: float
) -> tuple[float, list[str]]:
    records = instance.get_run_records(
        dg.RunsFilter(tags={SITE_TAG: site.site_id}, statuses=ENDED, updated_after=datetime.fromtimestamp(cursor, UTC)),
        order_by="update_timestamp",
        ascending=True,
        limit=ENDED_BATCH,
    )
    notes = []
    for record in records:
        run = record.dagster_run
        held = run_operations(run.tags)
        if len(held) > 1 and run.status == dg.DagsterRunStatus.SUCCESS:
            held = []  # a batch that succeeded reported each of its jobs itself
        ran = record.end_time - record.start_time if record.start_time and record.end_time else None
        for job_id, op_id in held:
            op = client.find_operation(op_id)  # None: unknown to the runtime, nothing to settle
            if op and not op.done:
                try:
                    notes.append(settle(client, run, job_id, op, ran))
                except RuntimeClientError as exc:
                    if not exc.permanent:
                        raise  # the runtime is unreachable or busy: this run is settled on a later tick
                    if not exc.conflict:  # reported, released or expired meanwhile: nothing left to say
                        # Refused for good: retrying would stop every later run from being settled.
                        notes.append(f"could not settle run {run.run_id}: {exc}")
        cursor = max(cursor, record.update_timestamp.timestamp())
    return cursor, notes


def make_reconcile_sensor(interval: int = 2) -> dg.SensorDefinition:
    @site_sensor(
        name="lease_reconcile",
        minimum_interval_seconds=interval,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Renews leases of live runs, stops cancelled or lost ones, settles runs that ended silently.",
    )
    def lease_reconcile(context: dg.SensorEvaluationContext, scope: SensorScope):
        client = scope.runtime.client()
        notes = renew_leases(scope.instance, client, scope.site)
        cursor, ended = report_ended_runs(scope.instance, client, scope.site, float(context.cursor or 0))
        return dg.SensorResult(cursor=str(cursor), skip_reason="; ".join(notes + ended))

    return lease_reconcile
