"""Prepare a site for a reboot: pause it (nothing new is claimed), then hand every job it holds back to
the runtime's queue and stop the job's Dagster run, so that after the restart and `orchestrator site
resume` each job runs again, once, reusing the actions it had finished. Releasing comes before
stopping: a stopped run reports its cancelled actions, and only a released operation refuses that
report instead of ending the job cancelled."""

from __future__ import annotations

import time

import dagster as dg

from orchestrator.runtime.client import RuntimeClient, RuntimeClientError
from orchestrator.sensors.claims import IN_PROGRESS
from orchestrator.sensors.reconcile import stop_run
from orchestrator.workflows.common import SITE_TAG, run_operations


def site_runs(instance: dg.DagsterInstance, site_id: str) -> list[dg.DagsterRun]:
    return instance.get_runs(dg.RunsFilter(tags={SITE_TAG: site_id}, statuses=IN_PROGRESS))


def prepare_for_reboot(
    client: RuntimeClient, instance: dg.DagsterInstance, site_id: str, wait_seconds: float = 60
) -> list[str]:
    """What was done, a line each. Safe to repeat: a second call finds the site paused and nothing running."""
    client.pause_site(site_id)
    notes = [f"site {site_id} paused: nothing new is claimed"]
    runs = site_runs(instance, site_id)
    for run in runs:
        for job_id, operation_id in run_operations(run.tags):  # one job, or each of a batch
            try:
                client.release_job(job_id, operation_id=operation_id)
                notes.append(f"job {job_id} back in the queue (operation {operation_id} released)")
            except RuntimeClientError as exc:
                if not exc.conflict:
                    raise
                notes.append(f"job {job_id}: not released ({exc.message})")  # it ended or was released meanwhile
        stop_run(instance, run)
        notes.append(f"stopping Dagster run {run.run_id}")
    deadline = time.monotonic() + wait_seconds
    while (left := site_runs(instance, site_id)) and time.monotonic() < deadline:
        time.sleep(0.5)
    if left:
        notes.append(f"{len(left)} run(s) still stopping: " + ", ".join(r.run_id for r in left))
    else:
        notes.append(f"{len(runs)} run(s) stopped; ready for the reboot (then `orchestrator site resume`)")
    return notes
