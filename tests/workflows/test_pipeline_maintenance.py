"""Database maintenance through the pipeline Dagster job against a live runtime: `orchestrator site
maintenance on` (the runtime's sites.maintenance) stops the running database action, which the job's
metadata shows pending with WAITING_DB_MAINTENANCE while the other action succeeds; once maintenance
ends, the database action runs again and the job succeeds, once."""

import sys
import time

from orchestrator.resources import PipelineResource
from orchestrator.workflows import pipeline as pipeline_workflow
from tests.utils.waiting import wait_until
from tests.workflows.pipeline_support import latest_job_actions, run_study_in_thread
from tests.workflows.test_pipeline_cancel import WRITE, write_study

# Waits for the file named by its first argument (the test makes it once maintenance is on), then writes its output.
WAIT_FOR_GO = """\
import pathlib, sys, time
go, output = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
deadline = time.monotonic() + 120
while not go.exists() and time.monotonic() < deadline:
    time.sleep(0.05)
output.parent.mkdir(exist_ok=True)
output.write_text("rows\\n")
"""


def database_study(tmp_path, go, database_actions: list[str]) -> bytes:
    """A study whose `database_actions` each wait for the file `go`, then write; beside them `describe`,
    an ordinary action that writes at once."""
    actions = "".join(
        f"  {name}:\n    run: sqlrunner:latest analysis/wait.py {go} output/{name}.csv\n"
        f"    outputs: {{highly_sensitive: {{o: output/{name}.csv}}}}\n"
        for name in database_actions
    )
    return write_study(
        tmp_path,
        "db",
        "version: '4.0'\nactions:\n"
        + actions
        + "  describe:\n    run: python:v2 analysis/write.py output/describe.csv\n"
        "    outputs: {highly_sensitive: {o: output/describe.csv}}\n",
        {"wait.py": WAIT_FOR_GO, "write.py": WRITE},
    )


def test_maintenance_holds_the_database_action_of_a_running_job_and_the_job_still_succeeds(
    instance, site, registered, tmp_path, monkeypatch
):
    go = tmp_path / "go"
    archive = database_study(tmp_path, go, ["extract"])
    monkeypatch.setattr(pipeline_workflow._DatabaseMaintenance, "POLL_SECONDS", 0.1)
    pipeline = PipelineResource(
        workspaces_dir=str(tmp_path / "workspaces"),
        jobs_dir=str(tmp_path / "jobs"),
        image_map=f'{{"sqlrunner": ["{sys.executable}"]}}',
        databases='{"full": "postgresql://reader@127.0.0.1:1/none"}',
    )
    thread, box = run_study_in_thread(instance, site, registered, archive, tmp_path, pipeline)

    def actions():
        return latest_job_actions(registered)

    wait_until(lambda: actions().get("extract", {}).get("state") == "running", 60, "extract to run")
    site.client.start_maintenance(site.id)
    wait_until(lambda: actions()["extract"].get("status_code") == "WAITING_DB_MAINTENANCE", 30, "extract to be stopped")
    held = actions()
    assert held["extract"]["state"] == "pending"
    assert "database maintenance" in held["extract"]["status_message"]
    wait_until(lambda: actions()["describe"].get("status_code") == "SUCCEEDED", 30, "describe to succeed meanwhile")
    time.sleep(0.5)
    assert actions()["extract"]["status_code"] == "WAITING_DB_MAINTENANCE" and "outcome" not in box  # still held
    go.touch()
    site.client.end_maintenance(site.id)
    thread.join(90)
    result, job, op = box["outcome"]
    assert result.success and job["status"] == "succeeded", op
    assert {name: a["status_code"] for name, a in op["metadata"]["actions"].items()} == {
        "extract": "SUCCEEDED",
        "describe": "SUCCEEDED",
    }
    messages = [str(e.user_message) for e in instance.all_logs(result.run_id) if not e.dagster_event]
    assert any("database maintenance began" in m for m in messages)
    assert any(m.startswith("action extract (job ") and ": WAITING_DB_MAINTENANCE" in m for m in messages)
    assert any("database maintenance ended" in m for m in messages)
