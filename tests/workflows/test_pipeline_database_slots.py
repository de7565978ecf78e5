"""The site's database slots through the pipeline Dagster job against a live runtime: with one slot
(ORCHESTRATOR_MAX_DB_WORKERS=1), the job's second database action waits, pending with
WAITING_ON_DB_WORKERS in the job's metadata, while the first holds the Dagster pool's slot in the run's
name and an ordinary action runs beside it; then it runs, the job succeeds and the pool is empty again."""

import sys

from orchestrator.resources import PipelineResource
from orchestrator.workflows.database_slots import POOL, DagsterDatabaseSlots
from tests.utils.waiting import wait_until
from tests.workflows.pipeline_support import latest_job_actions, run_study, run_study_in_thread
from tests.workflows.test_pipeline_maintenance import database_study


def test_a_second_database_action_waits_for_the_only_slot_while_another_action_runs(
    instance, site, registered, tmp_path, monkeypatch
):
    go = tmp_path / "go"
    archive = database_study(tmp_path, go, ["extract", "extract_more"])
    monkeypatch.setattr(DagsterDatabaseSlots, "ASK_EVERY_SECONDS", 0.1)
    pipeline = PipelineResource(
        workspaces_dir=str(tmp_path / "workspaces"),
        image_map=f'{{"sqlrunner": ["{sys.executable}"]}}',
        databases='{"full": "postgresql://reader@127.0.0.1:1/none"}',
        max_db_workers=1,
    )
    thread, box = run_study_in_thread(instance, site, registered, archive, tmp_path, pipeline)

    def actions():
        return latest_job_actions(registered)

    wait_until(
        lambda: actions().get("extract_more", {}).get("status_code") == "WAITING_ON_DB_WORKERS",
        60,
        "the second to wait",
    )
    wait_until(lambda: actions()["describe"].get("status_code") == "SUCCEEDED", 30, "describe to succeed meanwhile")
    waiting = actions()
    assert waiting["extract"]["state"] == "running" and waiting["extract_more"]["state"] == "pending"
    assert "database workers" in waiting["extract_more"]["status_message"]
    info = instance.event_log_storage.get_concurrency_info(POOL)
    assert info.slot_count == 1
    [holder] = info.claimed_slots
    assert holder.step_key == "execute_actions[extract]"
    assert [step.step_key for step in info.pending_steps if step.assigned_timestamp is None] == [
        "execute_actions[extract_more]"
    ]

    go.touch()
    thread.join(90)
    result, job, op = box["outcome"]
    assert result.success and job["status"] == "succeeded", op
    assert holder.run_id == result.run_id
    assert {name: a["status_code"] for name, a in op["metadata"]["actions"].items()} == dict.fromkeys(
        ("extract", "extract_more", "describe"), "SUCCEEDED"
    )
    info = instance.event_log_storage.get_concurrency_info(POOL)
    assert not info.claimed_slots and not info.pending_steps
    messages = [str(e.user_message) for e in instance.all_logs(result.run_id) if not e.dagster_event]
    assert any(m.startswith("action extract_more (job ") and ": WAITING_ON_DB_WORKERS" in m for m in messages)


def test_a_job_without_database_actions_leaves_the_pool_alone(instance, site, registered, tmp_path):
    archive = database_study(tmp_path, tmp_path / "go", [])  # describe only
    pipeline = PipelineResource(workspaces_dir=str(tmp_path / "workspaces"), max_db_workers=1)
    result, job, _ = run_study(instance, site, registered, archive, tmp_path, pipeline)
    assert result.success and job["status"] == "succeeded"
    assert instance.event_log_storage.get_concurrency_info(POOL).slot_count == 0  # never made: no lock, no query
