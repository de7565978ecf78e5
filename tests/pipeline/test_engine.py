"""The engine over several actions: parallelism, failure propagation, continue-on-error,
cancellation, re-runs against a persistent workspace, and waiting on another process's run."""

import threading
import time
from itertools import pairwise

from orchestrator.pipeline import Limits, StatusCode, Workspace
from orchestrator.pipeline.engine import ActionEvent, CancelRequests
from tests.pipeline.studies import action, make_study, project, run


def test_independent_actions_run_in_parallel_up_to_the_limit(tmp_path):
    study = make_study(
        tmp_path, project(*(action(f"nap_{i}", f"analysis/sleep.py 1.5 output/nap_{i}.csv") for i in range(3)))
    )
    outcome, _ = run(study, concurrency=3)
    assert outcome.ok
    results = list(outcome.results.values())
    # every action started before any finished: all three ran at the same time
    assert max(r.started_at for r in results) < min(r.finished_at for r in results)


def test_the_concurrency_limit_is_respected(tmp_path):
    study = make_study(
        tmp_path, project(*(action(f"nap_{i}", f"analysis/sleep.py 0.5 output/nap_{i}.csv") for i in range(3)))
    )
    outcome, _ = run(study, concurrency=1)
    spans = sorted((r.started_at, r.finished_at) for r in outcome.results.values())
    assert all(earlier[1] <= later[0] for earlier, later in pairwise(spans))


def test_an_action_starts_as_soon_as_its_own_needs_succeed_not_level_by_level(tmp_path):
    # quick -> after_quick must not wait for the slow action in the same "level" as quick
    study = make_study(
        tmp_path,
        project(
            action("slow", "analysis/sleep.py 3 output/slow.csv"),
            action("quick", "analysis/write.py output/quick.csv"),
            action("after_quick", "analysis/write.py output/after_quick.csv", needs=["quick"]),
        ),
    )
    outcome, _ = run(study, concurrency=2)
    assert outcome.results["after_quick"].started_at < outcome.results["slow"].finished_at


def test_without_continue_on_error_nothing_new_starts_after_a_failure(tmp_path):
    study = make_study(
        tmp_path,
        project(
            action("broken", "analysis/fail.py"),
            action("later", "analysis/write.py output/later.csv", needs=["gate"]),
            action("gate", "analysis/sleep.py 1 output/gate.csv"),
        ),
    )
    outcome, workspace = run(study, concurrency=2)
    assert outcome.results["broken"].status_code is StatusCode.NONZERO_EXIT
    assert outcome.results["gate"].ok  # already running: allowed to finish
    later = outcome.results["later"]
    assert later.status_code is StatusCode.CREATED and "not started: broken failed" in later.message
    assert "later" not in workspace.read_manifest()["actions"]


def test_with_continue_on_error_independent_branches_keep_going(tmp_path):
    study = make_study(
        tmp_path,
        project(
            action("broken", "analysis/fail.py"),
            action("needs_broken", "analysis/write.py output/needs_broken.csv", needs=["broken"]),
            action("later", "analysis/write.py output/later.csv", needs=["gate"]),
            action("gate", "analysis/sleep.py 1 output/gate.csv"),
        ),
    )
    outcome, _ = run(study, concurrency=2, continue_on_error=True)
    codes = {name: result.status_code for name, result in outcome.results.items()}
    assert codes == {
        "broken": StatusCode.NONZERO_EXIT,
        "needs_broken": StatusCode.DEPENDENCY_FAILED,
        "gate": StatusCode.SUCCEEDED,
        "later": StatusCode.SUCCEEDED,
    }


def test_a_rerun_reuses_a_succeeded_dependency_unless_forced(tmp_path):
    study = make_study(
        tmp_path,
        project(
            action("first", "analysis/write.py output/first.csv"),
            action("second", "analysis/copy.py output/first.csv output/second.csv", needs=["first"]),
        ),
    )
    run(study)
    outcome, workspace = run(study, ["second"])
    assert outcome.results["first"].details == {"reused": True}
    assert outcome.results["second"].started_at is not None
    first_job = workspace.read_manifest()["actions"]["first"]["job_id"]

    outcome, workspace = run(study, ["second"], force_run_dependencies=True)
    assert not outcome.results["first"].details
    assert workspace.read_manifest()["actions"]["first"]["job_id"] != first_job

    (workspace.path / "output/first.csv").unlink()  # a missing output makes it run again
    outcome, _ = run(study, ["second"])
    assert outcome.results["first"].started_at is not None and outcome.ok


def test_outputs_an_action_no_longer_produces_are_removed_on_its_next_run(tmp_path):
    study = make_study(
        tmp_path,
        project(
            action(
                "tables",
                "analysis/tables.py",
                {"moderately_sensitive": {"tables": "output/*.csv"}},
            )
        ),
        scripts={
            "tables": """
        import pathlib
        names = pathlib.Path("names.txt").read_text().split()
        pathlib.Path("output").mkdir()
        for name in names:
            pathlib.Path("output", name).write_text("n\\n1\\n")
    """
        },
    )
    (study / "names.txt").write_text("a.csv b.csv")
    _, workspace = run(study)
    assert sorted(workspace.read_manifest()["files"]) == ["output/a.csv", "output/b.csv"]
    (study / "names.txt").write_text("b.csv c.csv")
    outcome, workspace = run(study)
    assert outcome.ok
    assert sorted(workspace.read_manifest()["files"]) == ["output/b.csv", "output/c.csv"]
    assert not (workspace.path / "output/a.csv").exists()
    assert not (workspace.level4_dir / "output/a.csv").exists()
    assert workspace.read_manifest()["actions"]["tables"]["outputs"] == ["output/b.csv", "output/c.csv"]


def test_a_failed_rerun_keeps_the_previous_outputs(tmp_path):
    study = make_study(
        tmp_path,
        project(action("flaky", "analysis/flaky.py")),
        scripts={
            "flaky": """
        import pathlib, sys
        if pathlib.Path("fail.txt").exists(): sys.exit(1)
        pathlib.Path("output").mkdir(); pathlib.Path("output/flaky.csv").write_text("n\\n1\\n")
    """
        },
    )
    run(study)
    (study / "fail.txt").write_text("yes")
    outcome, workspace = run(study)
    assert outcome.results["flaky"].status_code is StatusCode.NONZERO_EXIT
    assert (workspace.path / "output/flaky.csv").exists()
    assert workspace.state().actions["flaky"].state.value == "failed"


def test_a_stop_event_kills_running_actions_and_cancels_the_rest(tmp_path):
    study = make_study(
        tmp_path,
        project(
            action("long", "analysis/sleep.py 60 output/long.csv"),
            action("after", "analysis/write.py output/after.csv", needs=["long"]),
        ),
    )
    stop = threading.Event()
    events: list[ActionEvent] = []

    def on_event(event):
        events.append(event)
        if event.kind == "started":
            threading.Timer(0.5, stop.set).start()

    started = time.monotonic()
    outcome, workspace = run(study, stop=stop, on_event=on_event)
    assert time.monotonic() - started < 30
    assert outcome.results["long"].status_code is StatusCode.CANCELLED_BY_USER
    assert outcome.results["after"].status_code is StatusCode.CANCELLED_BY_USER
    assert outcome.results["after"].message == "cancelled before it started"
    assert [(e.kind, e.action) for e in events] == [
        ("started", "long"),
        ("finished", "after"),
        ("finished", "long"),
    ]
    assert workspace.read_manifest()["actions"]["long"]["status_code"] == "CANCELLED_BY_USER"


def test_a_stop_callable_can_say_killed_by_admin(tmp_path):
    study = make_study(tmp_path, project(action("long", "analysis/sleep.py 60 output/long.csv")))
    deadline = time.monotonic() + 0.5
    outcome, _ = run(study, stop=lambda: time.monotonic() > deadline and StatusCode.KILLED_BY_ADMIN)
    assert outcome.results["long"].status_code is StatusCode.KILLED_BY_ADMIN


def test_a_run_past_its_maximum_runtime_ends_its_actions_job_timeout_with_their_reason(tmp_path):
    study = make_study(
        tmp_path,
        project(
            action("long", "analysis/sleep.py 60 output/long.csv"),
            action("after", "analysis/write.py output/after.csv", needs=["long"]),
        ),
    )
    deadline = time.monotonic() + 0.5
    started = time.monotonic()
    outcome, workspace = run(
        study,
        limits=Limits(timeout=300),  # its own limit is far off: the run's ran out first, and the message says so
        stop=lambda: time.monotonic() > deadline and StatusCode.JOB_TIMEOUT,
    )
    assert time.monotonic() - started < 30
    long, after = outcome.results["long"], outcome.results["after"]
    assert (long.status_code, long.message) == (
        StatusCode.JOB_TIMEOUT,
        "the run's maximum runtime ran out; its processes were killed",
    )
    assert (after.status_code, after.message) == (
        StatusCode.JOB_TIMEOUT,
        "not started: the run's maximum runtime ran out",
    )
    assert workspace.read_manifest()["actions"]["long"]["status_code"] == "JOB_TIMEOUT"


def test_an_action_running_in_another_process_is_waited_on_not_run_again(tmp_path):
    study = make_study(
        tmp_path,
        project(
            action("shared", "analysis/write.py output/shared.csv"),
            action("mine", "analysis/copy.py output/shared.csv output/mine.csv", needs=["shared"]),
        ),
    )
    from orchestrator.pipeline import Workspace
    from orchestrator.pipeline.status import ActionResult, OutputFile

    workspace = Workspace(tmp_path / "workspace")
    workspace.start_action("shared", "other-job", owner="another-engine", started_at=time.time())

    def other_engine_finishes():  # what the other process would do when its run ends
        time.sleep(1)
        source = study / "analysis/write.py"  # any file will do as the output's content
        staged, size, sha = workspace.stage("other-job", "output/shared.csv", source)
        workspace.finish_action(
            ActionResult(
                "shared",
                "other-job",
                StatusCode.SUCCEEDED,
                "done elsewhere",
                outputs=(OutputFile("output/shared.csv", "moderately_sensitive", size, sha),),
            ),
            {"output/shared.csv": staged},
        )

    threading.Thread(target=other_engine_finishes).start()
    events = []
    outcome, workspace = run(study, ["mine"], workspace=workspace, on_event=events.append, limits=Limits(timeout=60))
    assert outcome.ok
    assert ("waiting", "shared", "already running in another job; waiting for it") in [
        (e.kind, e.action, e.message) for e in events
    ]  # that run recorded no request id
    assert ("started", "shared") not in [(e.kind, e.action) for e in events]
    assert outcome.results["shared"].job_id == "other-job"
    assert outcome.results["shared"].message == "ran in another request (job other-job): SUCCEEDED"
    assert (workspace.path / "output/mine.csv").read_text() == (study / "analysis/write.py").read_text()


def test_stream_output_sends_each_actions_lines_while_it_runs_then_its_result(tmp_path):
    study = make_study(
        tmp_path,
        project(action("talks", "analysis/talk.py output/talks.csv")),
        scripts={
            "talk": """
        import sys, time, pathlib
        print("first")
        time.sleep(1)
        pathlib.Path(sys.argv[1]).parent.mkdir(parents=True, exist_ok=True)
        pathlib.Path(sys.argv[1]).write_text("x\\n")
        print("second", file=sys.stderr)
        sys.stdout.write("no newline at the end")
    """
        },
    )
    events: list[ActionEvent] = []
    outcome, _ = run(study, on_event=events.append, stream_output=True)
    assert outcome.ok
    output = [e for e in events if e.kind == "output"]
    assert [line for e in output for line in e.lines] == ["first", "second", "no newline at the end"]
    finished = next(i for i, e in enumerate(events) if e.kind == "finished")
    assert events.index(output[-1]) < finished  # the last lines come before the result
    assert output[0].at < outcome.results["talks"].finished_at - 0.5  # "first" was shown while it slept

    events.clear()
    run(study, on_event=events.append, actions=["talks"], force_run_dependencies=True)
    assert "output" not in {e.kind for e in events}  # only when asked: the CLI shows progress, not output


class Terminated(BaseException):
    """Like Dagster's DagsterExecutionInterruptedError: raised in the caller's thread when its run is terminated."""


def test_any_termination_of_the_caller_kills_running_actions_before_it_propagates(tmp_path):
    study = make_study(tmp_path, project(action("slow", "analysis/sleep.py 30 output/slow.csv")))

    def terminate_on_start(event: ActionEvent) -> None:
        if event.kind == "started":
            time.sleep(0.5)  # the action's process is running
            raise Terminated()

    began = time.monotonic()
    try:
        run(study, on_event=terminate_on_start)
    except Terminated:
        pass
    else:
        raise AssertionError("the termination was swallowed")
    assert time.monotonic() - began < 10  # the sleeping action was killed, not waited for
    recorded = Workspace(study.parent / "workspace").read_manifest()["actions"]["slow"]
    assert recorded["status_code"] == "CANCELLED_BY_USER"


def test_cancelling_one_running_action_kills_it_and_its_dependents_while_independent_ones_go_on(tmp_path):
    study = make_study(
        tmp_path,
        project(
            action("long", "analysis/sleep.py 60 output/long.csv"),
            action("after_long", "analysis/write.py output/after_long.csv", needs=["long"]),
            action("then", "analysis/write.py output/then.csv", needs=["after_long"]),
            action("quick", "analysis/sleep.py 1.5 output/quick.csv"),
            action("after_quick", "analysis/copy.py output/quick.csv output/after_quick.csv", needs=["quick"]),
        ),
    )
    cancels = CancelRequests()
    long_started = threading.Event()

    def cancel_long_from_another_thread():
        assert long_started.wait(30)
        time.sleep(0.3)  # its process is running
        cancels.cancel("long")

    canceller = threading.Thread(target=cancel_long_from_another_thread)
    canceller.start()
    events: list[ActionEvent] = []

    def on_event(event: ActionEvent) -> None:
        events.append(event)
        if (event.kind, event.action) == ("started", "long"):
            long_started.set()

    began = time.monotonic()
    outcome, workspace = run(study, concurrency=2, cancel=cancels, on_event=on_event)  # not continue_on_error
    canceller.join()
    assert time.monotonic() - began < 30  # long was killed, not waited for
    codes = {name: result.status_code for name, result in outcome.results.items()}
    assert codes == {
        "long": StatusCode.CANCELLED_BY_USER,
        "after_long": StatusCode.CANCELLED_BY_USER,
        "then": StatusCode.CANCELLED_BY_USER,
        "quick": StatusCode.SUCCEEDED,
        "after_quick": StatusCode.SUCCEEDED,
    }
    assert outcome.results["long"].message == "cancelled by user while running; its processes were killed"
    assert outcome.results["after_long"].message == "needs long, which is cancelled"
    assert outcome.results["then"].message == "needs after_long, which is cancelled"
    started = [e.action for e in events if e.kind == "started"]
    assert sorted(started) == ["after_quick", "long", "quick"]
    actions = workspace.read_manifest()["actions"]
    assert actions["long"]["status_code"] == "CANCELLED_BY_USER"  # it had started: its run is recorded
    assert "after_long" not in actions and "then" not in actions  # never started: nothing to record
    assert (workspace.path / "output/after_quick.csv").is_file()


def test_cancelling_an_action_that_has_not_started_yet_means_it_never_starts(tmp_path):
    study = make_study(
        tmp_path,
        project(
            action("first", "analysis/sleep.py 1 output/first.csv"),
            action("second", "analysis/write.py output/second.csv"),
            action("third", "analysis/write.py output/third.csv", needs=["second"]),
        ),
    )
    cancels = CancelRequests()
    events: list[ActionEvent] = []

    def on_event(event: ActionEvent) -> None:
        events.append(event)
        if (event.kind, event.action) == ("started", "first"):
            cancels.cancel("second", "no_such_action")  # one at a time: second waits for first's slot

    outcome, _ = run(study, concurrency=1, cancel=cancels, on_event=on_event)
    assert outcome.results["first"].ok
    assert outcome.results["second"].status_code is StatusCode.CANCELLED_BY_USER
    assert outcome.results["second"].message == "cancelled before it started"
    assert outcome.results["third"].message == "needs second, which is cancelled"
    assert [e.action for e in events if e.kind == "started"] == ["first"]


def test_a_cancel_of_an_action_that_already_succeeded_changes_nothing(tmp_path):
    study = make_study(
        tmp_path,
        project(
            action("early", "analysis/write.py output/early.csv"),
            action("late", "analysis/sleep.py 1 output/late.csv", needs=["early"]),
        ),
    )
    cancels = CancelRequests()

    def on_event(event: ActionEvent) -> None:
        if (event.kind, event.action) == ("finished", "early"):
            cancels.cancel("early")

    outcome, _ = run(study, cancel=cancels, on_event=on_event)
    assert outcome.ok, [r.message for r in outcome.failed]


def test_cancelling_an_action_waited_on_stops_waiting_and_leaves_the_other_run_alone(tmp_path):
    study = make_study(
        tmp_path,
        project(
            action("shared", "analysis/write.py output/shared.csv"),
            action("mine", "analysis/copy.py output/shared.csv output/mine.csv", needs=["shared"]),
            action("own", "analysis/write.py output/own.csv"),
        ),
    )
    workspace = Workspace(tmp_path / "workspace")
    workspace.start_action("shared", "other-job", owner="another-engine", started_at=time.time(), request_id="r-7")
    events: list[ActionEvent] = []
    outcome, _ = run(
        study, workspace=workspace, cancel=CancelRequests(["shared"]), on_event=events.append, concurrency=1
    )
    assert [(e.kind, e.message) for e in events if e.action == "shared"][0] == (
        "waiting",
        "waiting for the run of request r-7",
    )
    assert outcome.results["shared"].status_code is StatusCode.CANCELLED_BY_USER
    assert outcome.results["shared"].message == "cancelled while it waited for another request's run (which goes on)"
    assert outcome.results["mine"].message == "needs shared, which is cancelled"
    assert outcome.results["own"].ok
    other = workspace.read_manifest()["actions"]["shared"]
    assert (other["state"], other["owner"], other["request_id"]) == ("running", "another-engine", "r-7")
