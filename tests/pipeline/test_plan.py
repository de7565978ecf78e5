"""plan_actions, one rule per test: what runs, is reused, waited on or cancelled, and the job ids."""

from types import MappingProxyType

import pytest

from orchestrator.pipeline import (
    ActionRecord,
    Decision,
    PlanError,
    State,
    WorkspaceState,
    plan_actions,
)
from tests.pipeline.helpers import valid_project

# a -> b -> c (c needs b needs a); d independent
PROJECT = valid_project(
    """
    version: '4.0'
    actions:
      a:
        run: python:v2 analysis/a.py
        outputs: {highly_sensitive: {data: output/a.csv}}
      b:
        run: python:v2 analysis/b.py
        needs: [a]
        outputs: {moderately_sensitive: {table: output/b.csv}}
      c:
        run: python:v2 analysis/c.py
        needs: [b]
        outputs: {moderately_sensitive: {table: output/c.csv}}
      d:
        run: python:v2 analysis/d.py
        outputs: {moderately_sensitive: {table: output/d.csv}}
    """
)


def state(running=(), **records: tuple[State, bool]) -> WorkspaceState:
    """records: action=(last state, outputs present)."""
    actions = {
        name: ActionRecord(last, last.name, f"job-{name}", (f"output/{name}.csv",), present)
        for name, (last, present) in records.items()
    }
    return WorkspaceState("ws", MappingProxyType(actions), frozenset(running))


def decisions(plan) -> dict[str, Decision]:
    assert not isinstance(plan, PlanError), plan
    return {name: planned.decision for name, planned in plan.actions.items()}


def test_a_requested_action_always_runs_even_if_it_succeeded():
    done = state(a=(State.SUCCEEDED, True))
    assert decisions(plan_actions(PROJECT, done, ["a"])) == {"a": Decision.RUN}


def test_dependencies_come_first_and_a_never_run_dependency_runs():
    plan = plan_actions(PROJECT, state(), ["c"])
    assert list(plan.actions) == ["a", "b", "c"]
    assert set(decisions(plan).values()) == {Decision.RUN}
    assert plan.actions["a"].reason == "dependency, never run in this workspace"


def test_a_dependency_that_succeeded_with_its_outputs_present_is_reused():
    plan = plan_actions(PROJECT, state(a=(State.SUCCEEDED, True), b=(State.SUCCEEDED, True)), ["c"])
    assert decisions(plan) == {"a": Decision.REUSE, "b": Decision.REUSE, "c": Decision.RUN}
    assert plan.to_run == ["c"]


def test_a_dependency_whose_outputs_are_gone_runs_again():
    plan = plan_actions(PROJECT, state(a=(State.SUCCEEDED, False)), ["b"])
    assert decisions(plan) == {"a": Decision.RUN, "b": Decision.RUN}
    assert "missing" in plan.actions["a"].reason


def test_a_failed_dependency_runs_again():
    plan = plan_actions(PROJECT, state(a=(State.FAILED, True)), ["b"])
    assert decisions(plan)["a"] is Decision.RUN


def test_force_run_dependencies_runs_succeeded_dependencies():
    done = state(a=(State.SUCCEEDED, True), b=(State.SUCCEEDED, True))
    plan = plan_actions(PROJECT, done, ["c"], force_run_dependencies=True)
    assert decisions(plan) == {"a": Decision.RUN, "b": Decision.RUN, "c": Decision.RUN}


@pytest.mark.parametrize("running_from", ["argument", "workspace"])
def test_an_action_already_running_is_waited_on_not_duplicated(running_from):
    if running_from == "argument":
        plan = plan_actions(PROJECT, state(), ["c"], running={"a", "c"})
    else:
        plan = plan_actions(PROJECT, state(running={"a", "c"}), ["c"])
    assert decisions(plan) == {"a": Decision.WAIT, "b": Decision.RUN, "c": Decision.WAIT}


def test_an_action_waited_on_says_whose_run_it_waits_for_when_the_workspace_knows():
    def running(request_id):
        record = ActionRecord(State.RUNNING, "EXECUTING", "job-a", (), False, request_id)
        return WorkspaceState("ws", MappingProxyType({"a": record}), frozenset({"a"}))

    reasons = {
        request_id: plan_actions(PROJECT, running(request_id), ["a"], request_id="req-1").actions["a"].reason
        for request_id in ("req-9", None, "req-1")
    }
    assert reasons == {
        "req-9": "waiting for the run of request req-9",
        None: "already running in another job; waiting for it",
        "req-1": "already running for an earlier attempt of this request; waiting for it",
    }


def test_cancelled_actions_and_their_dependents_are_cancelled():
    plan = plan_actions(PROJECT, state(), "run_all", cancelled_actions=["b"])
    assert decisions(plan) == {
        "a": Decision.RUN,
        "b": Decision.CANCEL,
        "c": Decision.CANCEL,
        "d": Decision.RUN,
    }
    assert plan.actions["c"].reason == "needs b, which is cancelled"


def test_run_all_plans_every_action_in_dependency_order():
    plan = plan_actions(PROJECT, state(), "run_all")
    assert list(plan.actions) == ["a", "b", "c", "d"]
    assert plan_actions(PROJECT, state(), ["d", "run_all"]).requested == ("a", "b", "c", "d")


def test_unknown_action_names_are_an_error_value_naming_them():
    error = plan_actions(PROJECT, state(), ["a", "nope", "zap"], cancelled_actions=["gone"])
    assert isinstance(error, PlanError)
    assert error.code == "UNKNOWN_ACTIONS"
    assert error.names == ("nope", "zap", "gone")
    assert "nope, zap, gone" in error.message and "run_all" in error.message


def test_no_requested_actions_is_an_error_value():
    assert plan_actions(PROJECT, state(), []).code == "NO_ACTIONS"


def test_job_ids_are_deterministic_per_workspace_request_and_action():
    first = plan_actions(PROJECT, state(), ["c"], request_id="req-1")
    again = plan_actions(PROJECT, state(a=(State.SUCCEEDED, True)), ["c"], request_id="req-1")
    other_request = plan_actions(PROJECT, state(), ["c"], request_id="req-2")
    other_workspace = plan_actions(PROJECT, WorkspaceState("other", MappingProxyType({})), ["c"], request_id="req-1")
    ids = {name: planned.job_id for name, planned in first.actions.items()}
    assert ids == {name: planned.job_id for name, planned in again.actions.items()}
    assert len(set(ids.values())) == 3
    assert ids["c"] != other_request.actions["c"].job_id != other_workspace.actions["c"].job_id
    assert ids["c"] != other_workspace.actions["c"].job_id


def test_outputs_inside_the_level4_release_tree_are_refused():
    project = valid_project(
        """
        version: '4.0'
        actions:
          sneaky:
            run: python:v2 analysis/a.py
            outputs: {moderately_sensitive: {table: level4/table.csv}}
        """
    )
    error = plan_actions(project, state(), ["sneaky"])
    assert isinstance(error, PlanError) and error.code == "RESERVED_OUTPUT_PATH"
    assert error.names == ("sneaky",)
