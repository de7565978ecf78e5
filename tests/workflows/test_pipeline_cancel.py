"""Single actions cancelled on the runtime job after submission (its `cancelled_parts`): honoured when
planning, and polled while the actions run, which stops them where they are; and an action another
request is running is waited on with a message naming that request."""

import threading
import time
from types import SimpleNamespace

import dagster as dg
import pytest

from orchestrator.pipeline import ActionResult, OutputFile, StatusCode, Workspace
from orchestrator.resources import PipelineResource
from orchestrator.runtime.client import RuntimeClientError
from orchestrator.runtime.models import Job
from orchestrator.workflows import pipeline as pipeline_workflow
from tests.sensors.support import RequestLog
from tests.workflows.pipeline_support import run_study, study_archive


class JobWithParts(Job):
    """The runtime's Job as it will be: with the actions cancelled after submission."""

    cancelled_parts: list[str] = []


def with_cancelled_parts(client, monkeypatch, parts):
    """The site's client answers get_job with `parts()` as the job's cancelled_parts (or raises what it returns)."""
    get_job = client.get_job

    def patched(job_id):
        job = get_job(job_id)
        current = parts()
        if isinstance(current, Exception):
            raise current
        return JobWithParts(**{**job.model_dump(), "cancelled_parts": current})

    monkeypatch.setattr(client, "get_job", patched)


def write_study(tmp_path, name: str, project_yaml: str, scripts: dict[str, str]) -> bytes:
    study = tmp_path / name
    (study / "analysis").mkdir(parents=True)
    (study / "project.yaml").write_text(project_yaml)
    for script, body in scripts.items():
        (study / "analysis" / script).write_text(body)
    return study_archive(tmp_path, study)


WRITE = "import pathlib, sys\np = pathlib.Path(sys.argv[1]); p.parent.mkdir(exist_ok=True); p.write_text('x\\n')\n"
SLEEP = "import time\ntime.sleep(60)\n"


def test_cancelled_parts_of_the_job_are_cancelled_when_planning(instance, site, registered, tmp_path, monkeypatch):
    with_cancelled_parts(site.client, monkeypatch, lambda: ["chart", "no_such_action"])
    result, job, op = run_study(instance, site, registered, study_archive(tmp_path), tmp_path)
    actions = op["error"]["details"]["actions"]
    assert {name: (a["decision"], a["status_code"]) for name, a in actions.items()} == {
        "generate_dataset": ("run", "SUCCEEDED"),
        "summarise": ("run", "SUCCEEDED"),
        "chart": ("cancel", "CANCELLED_BY_USER"),
        "export_sample": ("run", "SUCCEEDED"),
    }
    assert actions["chart"]["status_message"] == "cancelled by the request"
    assert job["status"] == "failed" and op["error"]["code"] == "ACTIONS_FAILED"  # as cancelled_actions do
    warnings = [e.user_message for e in instance.all_logs(result.run_id) if e.level == 30 and not e.dagster_event]
    assert any("cancelled_parts name no action of this project: no_such_action" in w for w in warnings), warnings


def test_an_action_cancelled_while_it_runs_is_killed_with_its_dependents_while_the_rest_go_on(
    instance, site, registered, tmp_path, monkeypatch
):
    archive = write_study(
        tmp_path,
        "slow",
        "version: '4.0'\nactions:\n"
        "  long:\n    run: python:v2 analysis/sleep.py\n    outputs: {highly_sensitive: {o: output/long.csv}}\n"
        "  after_long:\n    run: python:v2 analysis/write.py output/after.csv\n    needs: [long]\n"
        "    outputs: {highly_sensitive: {o: output/after.csv}}\n"
        "  quick:\n    run: python:v2 analysis/write.py output/quick.csv\n"
        "    outputs: {highly_sensitive: {o: output/quick.csv}}\n",
        {"sleep.py": SLEEP, "write.py": WRITE},
    )
    monkeypatch.setattr(pipeline_workflow._CancelledParts, "POLL_SECONDS", 0.1)
    workspace = Workspace.open(tmp_path / "workspaces", "w1")
    answers: list = []

    def parts():  # nothing cancelled until `long` runs; then the runtime fails once, then says `long`
        if "long" not in workspace.state().running:
            return []
        answers.append(len(answers))
        return RuntimeClientError(503, "UNAVAILABLE", "runtime restarting") if len(answers) == 1 else ["long"]

    with_cancelled_parts(site.client, monkeypatch, parts)
    began = time.monotonic()
    result, job, op = run_study(
        instance, site, registered, archive, tmp_path, PipelineResource(workspaces_dir=str(tmp_path / "workspaces"))
    )
    assert time.monotonic() - began < 40  # long (60 s) was killed
    actions = op["error"]["details"]["actions"]
    assert {name: a["status_code"] for name, a in actions.items()} == {
        "long": "CANCELLED_BY_USER",
        "after_long": "CANCELLED_BY_USER",
        "quick": "SUCCEEDED",
    }
    assert actions["long"]["status_message"] == "cancelled by user while running; its processes were killed"
    assert actions["after_long"]["status_message"] == "needs long, which is cancelled"
    assert job["status"] == "failed" and op["error"]["code"] == "ACTIONS_FAILED"
    messages = [str(e.user_message) for e in instance.all_logs(result.run_id) if not e.dagster_event]
    assert any("could not read cancelled actions from the runtime" in m and "UNAVAILABLE" in m for m in messages)
    assert any("cancelled after submission: long" in m for m in messages)


class _Log:
    def __init__(self):
        self.lines: list[tuple[str, str]] = []

    def info(self, message):
        self.lines.append(("info", message))

    def warning(self, message):
        self.lines.append(("warning", message))


def test_the_poll_asks_the_runtime_at_its_cadence_and_tolerates_a_job_without_the_field():
    calls = []
    answers = iter([SimpleNamespace(), SimpleNamespace(cancelled_parts=None), SimpleNamespace(cancelled_parts=["b"])])
    client = SimpleNamespace(get_job=lambda job_id: calls.append(job_id) or next(answers))
    runtime = SimpleNamespace(client=lambda: client)
    context = SimpleNamespace(log=_Log())
    poll = pipeline_workflow._CancelledParts(context, runtime, "job-1", ["a"])
    poll.POLL_SECONDS = 0.2
    assert poll() == {"a"} and calls == []  # not before its first interval
    time.sleep(0.25)
    assert poll() == {"a"} and poll() == {"a"} and calls == ["job-1"]  # a runtime without the field: nothing new
    time.sleep(0.25)
    assert poll() == {"a"}  # cancelled_parts: null
    time.sleep(0.25)
    assert poll() == {"a", "b"} and calls == ["job-1"] * 3
    assert context.log.lines == [("info", "cancelled after submission: b")]


@pytest.mark.parametrize("job_request_id", ["jr-mine", None])
def test_an_action_another_request_is_running_is_waited_on_with_a_message_naming_that_request(
    instance, site, registered, tmp_path, monkeypatch, job_request_id
):
    archive = write_study(
        tmp_path,
        "shared",
        "version: '4.0'\nactions:\n"
        "  shared:\n    run: python:v2 analysis/write.py output/shared.csv\n"
        "    outputs: {highly_sensitive: {o: output/shared.csv}}\n"
        "  mine:\n    run: python:v2 analysis/write.py output/mine.csv\n    needs: [shared]\n"
        "    outputs: {highly_sensitive: {o: output/mine.csv}}\n",
        {"write.py": WRITE},
    )
    workspace = Workspace.open(tmp_path / "workspaces", "w1")
    workspace.start_action("shared", "other-job", owner="other-engine", started_at=time.time(), request_id="jr-other")
    reports = RequestLog(site.client, monkeypatch)

    def other_run_finishes():  # once this run has reported that it waits
        deadline = time.monotonic() + 60
        while not any((b or {}).get("metadata", {}).get("step") == "execute_actions" for _, _, b in reports.calls):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        staged, size, sha = workspace.stage("other-job", "output/shared.csv", tmp_path / "shared" / "analysis/write.py")
        output = OutputFile("output/shared.csv", "highly_sensitive", size, sha)
        done = ActionResult("shared", "other-job", StatusCode.SUCCEEDED, "done", outputs=(output,))
        workspace.finish_action(done, {"output/shared.csv": staged})

    finisher = threading.Thread(target=other_run_finishes)
    finisher.start()
    config = {"actions": ["mine"], **({"job_request_id": job_request_id} if job_request_id else {})}
    result, job, op = run_study(instance, site, registered, archive, tmp_path, **config)
    finisher.join()
    assert result.success, op["error"]
    patches = [b["metadata"] for b in reports.to("PATCH", f"/operations/{op['id']}") if b.get("metadata")]
    planned = next(m for m in patches if m.get("step") == "plan")["actions"]
    assert planned["shared"] == {
        "state": "pending",
        "decision": "wait",
        "order": 0,
        "status_message": "waiting for the run of request jr-other",
    }
    waiting = [m["actions"]["shared"] for m in patches if m.get("step") == "execute_actions"]
    assert {"state": "running", "status_message": "waiting for the run of request jr-other"}.items() <= waiting[
        0
    ].items()
    assert op["result"]["actions"]["shared"]["status_message"] == "ran in request jr-other (job other-job): SUCCEEDED"
    # this run's own action records its request: the jobs site's job request when there is one
    assert workspace.read_manifest()["actions"]["mine"]["request_id"] == (job_request_id or job["id"])
    assert [e.step_key for e in instance.all_logs(result.run_id, of_type=dg.DagsterEventType.STEP_SUCCESS)][-1] == (
        "report_result"
    )
