"""Workflow pipeline-1.0.0 run in process on a really claimed job: the example study runs to
success with per-action states in the operation; a broken project or archive fails with a code."""

import io
import re
import tarfile

import dagster as dg

from orchestrator.pipeline import pack_directory
from orchestrator.resources import PipelineResource, runtime_from_env
from orchestrator.workflows import pipeline as pipeline_workflow
from tests.sensors.support import RequestLog
from tests.workflows.pipeline_support import PIPELINE, run_study, study_archive

ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")


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
    assert all(ISO_UTC.fullmatch(a["started_at"]) and ISO_UTC.fullmatch(a["finished_at"]) for a in actions.values()), (
        actions
    )
    assert actions["export_sample"]["withheld"] == ["output/sample_rows.csv"]
    manifest = tmp_path / "workspaces" / "w1" / "metadata" / "manifest.json"
    assert manifest.is_file() and (tmp_path / "workspaces" / "w1" / "metadata" / "chart.log").is_file()
    observed = [e for e in instance.all_logs(result.run_id) if e.dagster_event and e.dagster_event.is_asset_observation]
    assert len(observed) == 4  # one observation per action, with its status and outputs, in the Dagster UI
    steps = [e.step_key for e in instance.all_logs(result.run_id, of_type=dg.DagsterEventType.STEP_SUCCESS)]
    assert steps == ["load_input", "unpack_study", "plan_study", "execute_actions", "report_result"]


def test_progress_goes_to_the_operation_while_the_run_goes_and_a_rerun_reuses(
    instance, site, registered, tmp_path, monkeypatch
):
    patches = RequestLog(site.client, monkeypatch)
    archive = study_archive(tmp_path)
    first_result, _, first = run_study(instance, site, registered, archive, tmp_path)
    assert first_result.success, first["error"]
    reports = [body["metadata"] for body in patches.to("PATCH", f"/operations/{first['id']}") if body.get("metadata")]
    planned = next(m for m in reports if m.get("step") == "plan")
    assert all(a == {"state": "pending", "decision": "run", "order": a["order"]} for a in planned["actions"].values())
    assert sorted(a["order"] for a in planned["actions"].values()) == [0, 1, 2, 3], planned  # the plan's order
    assert planned["status_message"] == "4 actions to run"  # words, not "4 run"
    messages = [m["status_message"] for m in reports if m.get("step") == "execute_actions"]
    assert messages[-1] == "4 actions succeeded" and all(
        re.fullmatch(r"\d+ actions? [a-z]+(, \d+ [a-z]+)*", m) for m in messages
    )
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
    rerun = PIPELINE.job.execute_in_process(
        instance=instance, tags=site.tags(job_id, op["id"], PIPELINE.id), resources=resources, raise_on_error=False
    )
    op = registered.get(f"/operations/{op['id']}")
    assert rerun.success, op["error"]
    actions = op["result"]["actions"]
    assert {n: a["decision"] for n, a in actions.items()} == {
        "generate_dataset": "reuse",
        "summarise": "reuse",
        "chart": "run",
    }
    assert {a["status_code"] for a in actions.values()} == {"SUCCEEDED"}
    rerun_reports = [b["metadata"] for b in patches.to("PATCH", f"/operations/{op['id']}") if b.get("metadata")]
    assert [m["status_message"] for m in rerun_reports if m.get("step") == "plan"] == ["1 action to run, 2 reused"]
    assert [m for m in rerun_reports if m.get("step") == "execute_actions"][-1][
        "status_message"
    ] == "3 actions succeeded"
    assert op["result"]["outputs"] == {
        "highly_sensitive": ["output/dataset.csv"],
        "moderately_sensitive": ["output/age_chart.svg", "output/summary_by_age.csv", "output/summary_by_region.csv"],
    }


def test_a_failing_action_fails_its_step_with_code_message_and_log_tail(instance, site, registered, tmp_path):
    study = tmp_path / "broken"
    study.mkdir()
    (study / "project.yaml").write_text(
        "version: '4.0'\nactions:\n"
        "  fails:\n    run: python:v2 fail.py\n    outputs: {highly_sensitive: {out: output/x.csv}}\n"
        "  after:\n    run: python:v2 fail.py again\n    needs: [fails]\n    outputs: {highly_sensitive: {out: output/y.csv}}\n"
    )
    (study / "fail.py").write_text(
        "import sys\nfor i in range(30):\n    print(f'line {i}')\n"
        "print('no such column: age', file=sys.stderr)\nraise SystemExit(3)\n"
    )
    pack_directory(study, tmp_path / "broken.tar.gz")
    result, job, op = run_study(instance, site, registered, (tmp_path / "broken.tar.gz").read_bytes(), tmp_path)
    assert not result.success and job["status"] == "failed"
    assert op["error"]["code"] == "ACTIONS_FAILED"
    statuses = {name: a["status_code"] for name, a in op["error"]["details"]["actions"].items()}
    assert statuses == {"fails": "NONZERO_EXIT", "after": "DEPENDENCY_FAILED"}
    assert "line 29" not in str(op), "log text must stay at the site"

    # In Dagster: the step that ran the actions failed with a Failure (words and metadata, not a traceback
    # on a later op), and the action's output is in that step's log, line by line, prefixed by its name.
    [failure] = [e.dagster_event for e in instance.all_logs(result.run_id, of_type=dg.DagsterEventType.STEP_FAILURE)]
    assert failure.step_key == "execute_actions"
    failed = failure.step_failure_data.user_failure_data
    assert failed.description == "ACTIONS_FAILED: 2 action(s) failed: fails (NONZERO_EXIT), after (DEPENDENCY_FAILED)"
    assert failed.metadata["code"].value == "ACTIONS_FAILED"
    assert failed.metadata["fails status"].value == "NONZERO_EXIT: Job exited with an error (exit code 3)"
    assert failed.metadata["after status"].value.startswith(
        "DEPENDENCY_FAILED: Not starting as dependency failed: fails"
    )
    tail = failed.metadata["fails log (last 20 lines)"].value.splitlines()
    assert tail == [f"line {i}" for i in range(11, 30)] + ["no such column: age"]
    logged = "\n".join(
        e.user_message
        for e in instance.all_logs(result.run_id)
        if e.step_key == "execute_actions" and not e.dagster_event
    )
    assert [line for line in logged.splitlines() if line.startswith("[fails] ")] == [
        f"[fails] line {i}" for i in range(30)
    ] + ["[fails] no such column: age"]
    assert not any(
        e.step_key == "report_result" and e.dagster_event and e.dagster_event.is_step_failure
        for e in instance.all_logs(result.run_id)
    )


def test_a_failed_study_lists_only_outputs_it_wrote_or_reused(instance, site, registered, tmp_path):
    def study(name: str, script: str) -> bytes:
        directory = tmp_path / name
        directory.mkdir()
        (directory / "project.yaml").write_text(
            "version: '4.0'\nactions:\n"
            "  gen:\n    run: python:v2 gen.py\n    outputs: {highly_sensitive: {out: output/gen.csv}}\n"
            "  flaky:\n    run: python:v2 flaky.py\n    needs: [gen]\n"
            "    outputs: {highly_sensitive: {out: output/flaky.csv}}\n"
        )
        (directory / "gen.py").write_text(
            "import os\nos.makedirs('output', exist_ok=True)\nopen('output/gen.csv', 'w').write('x\\n')\n"
        )
        (directory / "flaky.py").write_text("import os\nos.makedirs('output', exist_ok=True)\n" + script)
        pack_directory(directory, tmp_path / f"{name}.tar.gz")
        return (tmp_path / f"{name}.tar.gz").read_bytes()

    works = study("works", "open('output/flaky.csv', 'w').write('1\\n')\n")
    result, _, first = run_study(instance, site, registered, works, tmp_path)
    assert result.success and first["result"]["outputs"] == {"highly_sensitive": ["output/flaky.csv", "output/gen.csv"]}
    # Now flaky fails: output/flaky.csv from the first job stays in the workspace, but is not this job's.
    result, job, op = run_study(
        instance, site, registered, study("broken", "raise SystemExit(1)\n"), tmp_path, actions=["flaky"]
    )
    assert job["status"] == "failed" and (tmp_path / "workspaces" / "w1" / "output" / "flaky.csv").is_file()
    assert op["error"]["details"]["actions"]["gen"]["decision"] == "reuse"
    assert op["error"]["details"]["outputs"] == {"highly_sensitive": ["output/gen.csv"]}


def test_invalid_project_and_unsafe_archive_are_reported_with_codes(instance, site, registered, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "project.yaml").write_text(
        "version: '4.0'\nactions:\n  a:\n    run: python:v2 a.py\n    needs: [missing]\n"
        "    outputs: {highly_sensitive: {o: ../escape.csv}}\n"
    )
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


def test_re_executing_a_finished_run_is_refused_at_load_input_naming_the_retry_command(
    instance, site, registered, tmp_path
):
    result, job, op = run_study(instance, site, registered, b"not an archive at all", tmp_path)
    assert job["status"] == "failed"

    def re_execute():
        # What "Re-execute" in the Dagster UI makes: a new run with the parent's tags (so its operation).
        parent = instance.get_run_by_id(result.run_id)
        tags = {**parent.tags, "dagster/parent_run_id": parent.run_id, "dagster/root_run_id": parent.run_id}
        resources = {"runtime": site.runtime, "pipeline": PipelineResource(workspaces_dir=str(tmp_path / "workspaces"))}
        rerun = PIPELINE.job.execute_in_process(instance=instance, tags=tags, resources=resources, raise_on_error=False)
        [failure] = [e.dagster_event for e in instance.all_logs(rerun.run_id, of_type=dg.DagsterEventType.STEP_FAILURE)]
        started = {e.step_key for e in instance.all_logs(rerun.run_id, of_type=dg.DagsterEventType.STEP_START)}
        assert (failure.step_key, started) == ("load_input", {"load_input"})
        return failure.step_failure_data.user_failure_data

    refused = re_execute()
    assert refused.description == (
        f"OPERATION_DONE: Job {job['id']} is failed: this run's operation {op['id']} is done, so a re-execution cannot "
        f"report to it. To run it again, retry the job: `orchestrator jobs retry {job['id']}`; a site then claims "
        "it as a new run."
    )
    assert refused.metadata["code"].value == "OPERATION_DONE"
    assert registered.get(f"/operations/{op['id']}")["error"] == op["error"]  # the first outcome stands

    registered.retry_job(job["id"])
    assert "It was retried since" in re_execute().description
    assert registered.get(f"/jobs/{job['id']}")["status"] == "open"  # still waiting for a site's new claim
    # Claimed again: the job is "claimed" once more, but by a new operation, so this run's is still done.
    new_op = site.client.claim_job(job["id"])
    assert f"runs as a new operation ({new_op['id']})" in re_execute().description


def test_a_run_parses_project_yaml_once_and_passes_it_between_ops_pickled(
    instance, site, registered, tmp_path, monkeypatch
):
    parsed = []
    load = pipeline_workflow.load_project
    monkeypatch.setattr(pipeline_workflow, "load_project", lambda path: parsed.append(path) or load(path))
    study = site.client.create_object(study_archive(tmp_path), name="study.tar.gz", types=["study"])
    config = {"workspace": "w1", "actions": ["summarise"]}
    job_id = registered.create_job(PIPELINE.id, [study["id"]], config=config)["id"]
    op = site.client.claim_job(job_id)
    # As in the daemon's runs, each op's output is pickled to disk and read back by the next op.
    resources = {
        "runtime": site.runtime,
        "pipeline": PipelineResource(workspaces_dir=str(tmp_path / "workspaces")),
        "io_manager": dg.FilesystemIOManager(base_dir=str(tmp_path / "io")),
    }
    result = PIPELINE.job.execute_in_process(
        instance=instance, tags=site.tags(job_id, op["id"], PIPELINE.id), resources=resources, raise_on_error=False
    )
    assert result.success, registered.get(f"/operations/{op['id']}")["error"]
    assert len(parsed) == 1


def site_pipeline_job() -> dg.JobDefinition:
    """The pipeline job with its resources from the environment, as the site's code location has it, for
    dg.execute_job, which re-executes runs the way the Dagster UI does. (Every setting an EnvVar, read
    when a run starts: Dagster may keep this job between tests.)"""
    resources = {
        "runtime": runtime_from_env(),
        "pipeline": PipelineResource(workspaces_dir=dg.EnvVar("ORCHESTRATOR_WORKSPACES_DIR")),
    }
    definitions = dg.Definitions(jobs=[PIPELINE.job], resources=resources, executor=dg.in_process_executor)
    return definitions.get_job_def(PIPELINE.job.name)


def test_re_executing_from_failure_is_refused_before_any_action_runs_again(
    instance, site, registered, tmp_path, monkeypatch
):
    for name, value in {
        "ORCHESTRATOR_URL": site.runtime.url,
        "ORCHESTRATOR_CLIENT_ID": site.runtime.client_id,
        "ORCHESTRATOR_CLIENT_SECRET": site.runtime.client_secret,
        "ORCHESTRATOR_WORKSPACES_DIR": str(tmp_path / "workspaces"),
    }.items():
        monkeypatch.setenv(name, value)
    study = tmp_path / "fails"
    study.mkdir()
    (study / "project.yaml").write_text(
        "version: '4.0'\nactions:\n  fails:\n    run: python:v2 fail.py\n"
        "    outputs: {highly_sensitive: {out: output/x.csv}}\n"
    )
    (study / "fail.py").write_text("raise SystemExit(3)\n")
    pack_directory(study, tmp_path / "fails.tar.gz")
    study_object = site.client.create_object(tmp_path / "fails.tar.gz", name="fails.tar.gz", types=["study"])
    job_id = registered.create_job(PIPELINE.id, [study_object["id"]], config={"workspace": "w1"})["id"]
    op = site.client.claim_job(job_id)
    job = dg.reconstructable(site_pipeline_job)
    with dg.execute_job(job, instance, tags=site.tags(job_id, op["id"], PIPELINE.id)) as parent:
        assert not parent.success and registered.get(f"/jobs/{job_id}")["status"] == "failed"
    manifest = tmp_path / "workspaces" / "w1" / "metadata" / "manifest.json"
    before = manifest.read_text()

    # The UI's "Re-execute from failure" copies the parent's own tags (so its operation) to the new run.
    tags = {k: v for k, v in instance.get_run_by_id(parent.run_id).tags.items() if not k.startswith("dagster/")}
    with dg.execute_job(
        job, instance, tags=tags, reexecution_options=dg.ReexecutionOptions.from_failure(parent.run_id, instance)
    ) as child:
        assert not child.success
    [failure] = [e.dagster_event for e in instance.all_logs(child.run_id, of_type=dg.DagsterEventType.STEP_FAILURE)]
    assert failure.step_key == "execute_actions"  # where "from failure" starts: load_input is not run again
    refused = failure.step_failure_data.user_failure_data.description
    assert refused.startswith("OPERATION_DONE: ") and f"orchestrator jobs retry {job_id}" in refused
    assert manifest.read_text() == before  # the action did not run again
