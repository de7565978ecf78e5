"""The workspace's manifest under concurrency, and how it reads runs whose process died."""

import json
import multiprocessing
import os
import time

from orchestrator.pipeline import ActionResult, State, StatusCode, Workspace


def _add_keys(path: str, worker: int, count: int) -> None:
    workspace = Workspace(path)
    for i in range(count):
        workspace.update_manifest(lambda m, key=f"w{worker}_{i}": m["actions"].__setitem__(key, {"state": "succeeded"}))


def test_concurrent_processes_never_lose_or_tear_manifest_updates(tmp_path):
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_add_keys, args=(str(tmp_path / "ws"), w, 20)) for w in range(3)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(120)
        assert process.exitcode == 0
    manifest = json.loads((tmp_path / "ws/metadata/manifest.json").read_text())
    assert len(manifest["actions"]) == 60
    assert not [n for n in os.listdir(tmp_path / "ws/metadata") if n.endswith(".tmp")]


def test_a_run_whose_process_died_reads_as_failed_not_running(tmp_path):
    workspace = Workspace.open(tmp_path, "ws")
    workspace.start_action("a", "job-a", owner="elsewhere", started_at=time.time())
    assert workspace.state().running == {"a"}  # our own pid: alive

    def pretend_dead(manifest):
        manifest["actions"]["a"]["pid"] = 2**22 + 12345  # above pid_max: no such process

    workspace.update_manifest(pretend_dead)
    state = workspace.state()
    assert state.running == frozenset()
    assert state.actions["a"].state is State.FAILED
    assert state.actions["a"].status_code == StatusCode.INTERNAL_ERROR.value
    # and a new run may take it over
    assert workspace.start_action("a", "job-b", owner="me", started_at=time.time()) is None


def test_a_live_run_by_another_owner_is_not_taken_over(tmp_path):
    workspace = Workspace.open(tmp_path, "ws")
    assert workspace.start_action("a", "job-a", owner="first", started_at=time.time()) is None
    assert workspace.start_action("a", "job-b", owner="second", started_at=time.time()) == "job-a"
    assert workspace.read_manifest()["actions"]["a"]["job_id"] == "job-a"


def test_a_run_records_its_request_while_it_runs_and_in_its_outcome(tmp_path):
    workspace = Workspace.open(tmp_path, "ws")
    assert workspace.start_action("a", "job-a", owner="me", started_at=time.time(), request_id="req-1") is None
    assert workspace.state().actions["a"].request_id == "req-1"
    workspace.finish_action(ActionResult("a", "job-a", StatusCode.NONZERO_EXIT, "failed"))
    assert workspace.state().actions["a"].request_id == "req-1"
    # an outcome of another run (a dependency failure recorded by a later request) claims no request
    workspace.finish_action(ActionResult("a", "job-b", StatusCode.DEPENDENCY_FAILED, "dependency failed"))
    assert workspace.state().actions["a"].request_id is None


def test_workspace_names_must_be_plain_directory_names(tmp_path):
    for bad in ("", "..", "a/b"):
        try:
            Workspace.open(tmp_path, bad)
        except ValueError as exc:
            assert "plain directory name" in str(exc)
        else:
            raise AssertionError(f"{bad!r} was accepted")
