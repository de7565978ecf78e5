"""The README's "Light workflows run in batches" section, followed literally in a copy of the
repository and run by a real dagster-daemon: 60 submitted notes become 60 succeeded jobs in a few
Dagster runs, each run's tags name its jobs and its event log has a line for each of them."""

import dagster as dg

from orchestrator.runtime.models import SiteCreate
from orchestrator.sensors.claims import IN_PROGRESS
from orchestrator.workflows.common import BATCH_PREFIX, JOB_TAG, run_operations
from tests.site.stack import SiteDaemon, make_site_copy, register_as_admin, site_env, wait_for

NOTES = 60


def test_light_echo_runs_its_jobs_in_batches(store, server, admin, tmp_path):
    repo = make_site_copy(tmp_path / "repo", "light")
    store.create_site(SiteCreate(id="batch-site"))
    creds = store.generate_credentials("batch-site").model_dump()
    env = site_env(repo, tmp_path / "dagster", server, "batch-site", creds)
    register_as_admin(repo, env, admin)

    daemon = SiteDaemon(repo, env, tmp_path / "daemon.log").start()
    try:
        for i in range(NOTES):
            admin.create_object(f"note {i}".encode(), name=f"note-{i:02d}.txt", types=["note"])

        def succeeded() -> list[dict]:
            jobs = list(admin.iterate("/jobs", page_size=1000, workflow_id="echo-1.0.0"))
            return jobs if len(jobs) == NOTES and all(j["status"] == "succeeded" for j in jobs) else []

        jobs = wait_for(succeeded, 240, f"{NOTES} echo jobs to succeed", on_timeout=daemon.output)
        with dg.DagsterInstance.from_config(str(tmp_path / "dagster")) as instance:
            # A batch run reports each job as it ends and then ends itself: on a loaded machine, seconds later.
            in_progress = dg.RunsFilter(job_name="echo", statuses=IN_PROGRESS)
            wait_for(lambda: not instance.get_runs_count(in_progress), 120, "the runs to end", on_timeout=daemon.output)
    finally:
        daemon.stop()

    with dg.DagsterInstance.from_config(str(tmp_path / "dagster")) as instance:
        runs = instance.get_runs(dg.RunsFilter(job_name="echo"))
        assert {run.status for run in runs} == {dg.DagsterRunStatus.SUCCESS}
        held = {job_id: (run, op_id) for run in runs for job_id, op_id in run_operations(run.tags)}
        assert sorted(held) == sorted(j["id"] for j in jobs)  # every job in exactly one run
        assert len(runs) <= NOTES // 5, f"{len(runs)} runs for {NOTES} jobs: not batched"
        assert any(len(run_operations(run.tags)) > 1 for run in runs)
        for job in jobs:
            run, op_id = held[job["id"]]
            assert op_id == job["operation_id"]
            assert run.tags.get(BATCH_PREFIX + job["id"]) == op_id or run.tags.get(JOB_TAG) == job["id"]
            lines = [e.user_message for e in instance.all_logs(run.run_id) if e.user_message.startswith("job ")]
            assert f"job {job['id']} (operation {op_id}) succeeded" in lines
            op = admin.get(f"/operations/{op_id}")
            assert op["result"]["echo"][0].startswith("note-") and op["metadata"]["dagster_run_id"] == run.run_id
