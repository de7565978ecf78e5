"""Workflow pipeline-1.0.0 run in process on a really claimed job: the example study runs to
success with per-action states in the operation; a broken project or archive fails with a code."""
import io
import re
import tarfile

from orchestrator.resources import PipelineResource
from orchestrator.runtime.client import pack_directory
from orchestrator.workflows import WORKFLOWS
from tests.conftest import REPO_ROOT
from tests.sensors.support import RequestLog

PIPELINE = WORKFLOWS["pipeline-1.0.0"]
STUDY = REPO_ROOT / "examples" / "study"
ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")


def run_study(instance, site, admin, archive: bytes, tmp_path, **config):
    study = site.client.create_object(archive, name="study.tar.gz", types=["study"], mime_type="application/gzip")
    job_id = admin.create_job(PIPELINE.id, [study["id"]], config={"workspace": "w1", "actions": ["run_all"], **config})["id"]
    op = site.client.claim_job(job_id)
    resources = {"runtime": site.runtime, "pipeline": PipelineResource(workspaces_dir=str(tmp_path / "workspaces"))}
    result = PIPELINE.job.execute_in_process(instance=instance, tags=site.tags(job_id, op["id"], PIPELINE.id),
                                             resources=resources, raise_on_error=False)
    return result, admin.get(f"/jobs/{job_id}"), admin.get(f"/operations/{op['id']}")


def study_archive(tmp_path) -> bytes:
    pack_directory(STUDY, tmp_path / "study.tar.gz")
    return (tmp_path / "study.tar.gz").read_bytes()


def test_example_study_succeeds_with_outputs_by_level(instance, site, registered, tmp_path):
    result, job, op = run_study(instance, site, registered, study_archive(tmp_path), tmp_path)
    assert result.success, op["error"]
    assert job["status"] == "succeeded"
    outputs = op["result"]["outputs"]
    assert "output/dataset.csv" in outputs["highly_sensitive"]
    assert "output/age_chart.svg" in outputs["moderately_sensitive"]
    actions = op["metadata"]["actions"]
    assert set(actions) == {"generate_dataset", "summarise", "chart", "export_sample"}
    assert all(a["status_code"] == "SUCCEEDED" and a["started_at"] <= a["finished_at"] for a in actions.values())
    assert all(ISO_UTC.fullmatch(a["started_at"]) and ISO_UTC.fullmatch(a["finished_at"]) for a in actions.values()), actions
    assert actions["export_sample"]["withheld"] == ["output/sample_rows.csv"]
    manifest = tmp_path / "workspaces" / "w1" / "metadata" / "manifest.json"
    assert manifest.is_file() and (tmp_path / "workspaces" / "w1" / "metadata" / "chart.log").is_file()
    observed = [e for e in instance.all_logs(result.run_id) if e.dagster_event and e.dagster_event.is_asset_observation]
    assert len(observed) == 4  # one observation per action, with its status and outputs, in the Dagster UI


def test_progress_goes_to_the_operation_while_the_run_goes_and_a_rerun_reuses(instance, site, registered, tmp_path,
                                                                              monkeypatch):
    patches = RequestLog(site.client, monkeypatch)
    archive = study_archive(tmp_path)
    first_result, _, first = run_study(instance, site, registered, archive, tmp_path)
    assert first_result.success, first["error"]
    reports = [body["metadata"] for body in patches.to("PATCH", f"/operations/{first['id']}") if body.get("metadata")]
    planned = next(m for m in reports if m.get("step") == "plan")
    assert all(a == {"state": "pending", "decision": "run"} for a in planned["actions"].values()), planned
    assert planned["status_message"] == "4 actions to run"  # words, not "4 run"
    messages = [m["status_message"] for m in reports if m.get("step") == "execute_actions"]
    assert messages[-1] == "4 actions succeeded" and all(re.fullmatch(r"\d+ actions? [a-z]+(, \d+ [a-z]+)*", m) for m in messages)
    # before the final report, some report showed an action done while another was still to finish
    during = [m["actions"] for m in reports if m.get("step") == "execute_actions"]
    assert any({a.get("state") for a in actions.values()} - {"succeeded"} for actions in during), during
    running = [a for actions in during for a in actions.values() if a.get("state") == "running"]
    assert running and all(ISO_UTC.fullmatch(a.get("started_at") or "") for a in running), during

    # Only `chart` now, as a new job: its dependencies succeeded and their outputs are there, so they are
    # reused, not re-run; the result still lists their outputs in the workspace by level.
    study = site.client.create_object(archive, name="again.tar.gz", types=["study"], mime_type="application/gzip")
    job_id = registered.create_job(PIPELINE.id, [study["id"]], config={"workspace": "w1", "actions": ["chart"]})["id"]
    op = site.client.claim_job(job_id)
    resources = {"runtime": site.runtime, "pipeline": PipelineResource(workspaces_dir=str(tmp_path / "workspaces"))}
    rerun = PIPELINE.job.execute_in_process(instance=instance, tags=site.tags(job_id, op["id"], PIPELINE.id),
                                            resources=resources, raise_on_error=False)
    op = registered.get(f"/operations/{op['id']}")
    assert rerun.success, op["error"]
    actions = op["result"]["actions"]
    assert {n: a["decision"] for n, a in actions.items()} == {"generate_dataset": "reuse", "summarise": "reuse", "chart": "run"}
    assert {a["status_code"] for a in actions.values()} == {"SUCCEEDED"}
    rerun_reports = [b["metadata"] for b in patches.to("PATCH", f"/operations/{op['id']}") if b.get("metadata")]
    assert [m["status_message"] for m in rerun_reports if m.get("step") == "plan"] == ["1 action to run, 2 reused"]
    assert [m for m in rerun_reports if m.get("step") == "execute_actions"][-1]["status_message"] == "3 actions succeeded"
    assert op["result"]["outputs"] == {
        "highly_sensitive": ["output/dataset.csv"],
        "moderately_sensitive": ["output/age_chart.svg", "output/summary_by_age.csv", "output/summary_by_region.csv"]}


def test_a_failing_action_fails_the_job_with_each_actions_status(instance, site, registered, tmp_path):
    study = tmp_path / "broken"
    study.mkdir()
    (study / "project.yaml").write_text(
        "version: '4.0'\nactions:\n"
        "  fails:\n    run: python:v2 fail.py\n    outputs: {highly_sensitive: {out: output/x.csv}}\n"
        "  after:\n    run: python:v2 fail.py again\n    needs: [fails]\n    outputs: {highly_sensitive: {out: output/y.csv}}\n")
    (study / "fail.py").write_text("raise SystemExit(3)\n")
    pack_directory(study, tmp_path / "broken.tar.gz")
    result, job, op = run_study(instance, site, registered, (tmp_path / "broken.tar.gz").read_bytes(), tmp_path)
    assert not result.success and job["status"] == "failed"
    assert op["error"]["code"] == "ACTIONS_FAILED"
    statuses = {name: a["status_code"] for name, a in op["error"]["details"]["actions"].items()}
    assert statuses == {"fails": "NONZERO_EXIT", "after": "DEPENDENCY_FAILED"}


def test_invalid_project_and_unsafe_archive_are_reported_with_codes(instance, site, registered, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "project.yaml").write_text("version: '4.0'\nactions:\n  a:\n    run: python:v2 a.py\n    needs: [missing]\n"
                                      "    outputs: {highly_sensitive: {o: ../escape.csv}}\n")
    pack_directory(bad, tmp_path / "bad.tar.gz")
    _, job, op = run_study(instance, site, registered, (tmp_path / "bad.tar.gz").read_bytes(), tmp_path)
    assert job["status"] == "failed" and op["error"]["code"] == "INVALID_PROJECT"
    assert {p["field"] for p in op["error"]["details"]["problems"]} >= {"needs"}

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        member = tarfile.TarInfo("../../etc/evil")
        tar.addfile(member, io.BytesIO(b""))
    _, job, op = run_study(instance, site, registered, buffer.getvalue(), tmp_path)
    assert job["status"] == "failed" and op["error"]["code"] == "UNSAFE_ARCHIVE"

    _, job, op = run_study(instance, site, registered, b"not an archive at all", tmp_path)
    assert op["error"]["code"] == "INVALID_ARCHIVE"

    _, job, op = run_study(instance, site, registered, study_archive(tmp_path), tmp_path, surprise=1)
    assert op["error"]["code"] == "INVALID_JOB_REQUEST"
