"""Turn a job request (actions or `run_all`, force, cancellations) into a `Plan`: what runs, what
is reused from the workspace, what is waited on and what is cancelled, with job-runner's
deterministic job ids. Pure: it reads a `WorkspaceState` snapshot and touches nothing.

The rules, first match wins, for each action the request needs (in dependency order):
  cancelled, or needs a cancelled one  -> CANCEL (CANCELLED_BY_USER)
  a live process is running it         -> WAIT   (never a second copy; the reason names its request)
  requested                            -> RUN
  force_run_dependencies               -> RUN
  last run succeeded, outputs present  -> REUSE
  otherwise (failed, never run, gone)  -> RUN
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType

from orchestrator.pipeline.graph import dependencies_of, topological_order
from orchestrator.pipeline.project import Project
from orchestrator.pipeline.status import State, deterministic_id, random_id
from orchestrator.pipeline.validate import RUN_ALL
from orchestrator.pipeline.workspace import LEVEL4_DIR, ActionRecord, WorkspaceState


class Decision(str, Enum):
    RUN = "run"
    REUSE = "reuse"
    WAIT = "wait"
    CANCEL = "cancel"


@dataclass(frozen=True)
class PlannedAction:
    name: str
    job_id: str
    decision: Decision
    reason: str
    needs: tuple[str, ...]  # the action's needs (all are in the plan)


@dataclass(frozen=True)
class Plan:
    request_id: str
    workspace: str
    requested: tuple[str, ...]
    actions: Mapping[str, PlannedAction]  # dependencies before dependents

    def named(self, decision: Decision) -> list[str]:
        return [name for name, planned in self.actions.items() if planned.decision is decision]

    @property
    def to_run(self) -> list[str]:
        return self.named(Decision.RUN)


@dataclass(frozen=True)
class PlanError:
    """A request that cannot be planned; `names` are the offending action names."""

    code: str
    message: str
    names: tuple[str, ...] = ()


def plan_actions(
    project: Project,
    workspace_state: WorkspaceState,
    requested_actions: str | Iterable[str],
    force_run_dependencies: bool = False,
    cancelled_actions: Iterable[str] = (),
    running: Collection[str] = frozenset(),
    request_id: str | None = None,
) -> Plan | PlanError:
    requested = _requested_names(project, requested_actions)
    cancelled = set(cancelled_actions)
    problem = _request_problem(project, requested, cancelled)
    if problem:
        return problem
    request_id = request_id or random_id()
    needs = project.needs_graph
    in_plan = set(requested) | dependencies_of(needs, requested)
    request = _Request(
        set(requested),
        force_run_dependencies,
        cancelled,
        set(running) | workspace_state.running,
        workspace_state,
        request_id,
    )
    decided: dict[str, PlannedAction] = {}
    for name in topological_order(needs, [n for n in project.action_names if n in in_plan]):
        decision, reason = _decide(name, needs[name], request, decided)
        job_id = deterministic_id(f"{workspace_state.name}\n{request_id}\n{name}")
        decided[name] = PlannedAction(name, job_id, decision, reason, tuple(needs[name]))
    return Plan(request_id, workspace_state.name, tuple(requested), MappingProxyType(decided))


@dataclass(frozen=True)
class _Request:
    requested: set[str]
    force: bool
    cancelled: set[str]
    busy: set[str]  # running now, in this process or another
    state: WorkspaceState
    request_id: str


def _decide(name: str, its_needs, request: _Request, decided) -> tuple[Decision, str]:
    record = request.state.actions.get(name)
    cancelled_need = next((n for n in its_needs if decided[n].decision is Decision.CANCEL), None)
    rules = (
        (name in request.cancelled, Decision.CANCEL, "cancelled by the request"),
        (cancelled_need is not None, Decision.CANCEL, f"needs {cancelled_need}, which is cancelled"),
        (name in request.busy, Decision.WAIT, waiting_reason(record, request.request_id)),
        (name in request.requested, Decision.RUN, "requested"),
        (request.force, Decision.RUN, "dependency, forced (--force-run-dependencies)"),
        (record is None, Decision.RUN, "dependency, never run in this workspace"),
        (
            record is not None and record.state is not State.SUCCEEDED,
            Decision.RUN,
            f"dependency, last run {record.status_code if record else ''}: running again",
        ),
        (
            record is not None and not record.outputs_exist,
            Decision.RUN,
            "dependency, some of its outputs are missing: running again",
        ),
    )
    for applies, decision, reason in rules:
        if applies:
            return decision, reason
    return Decision.REUSE, "dependency, succeeded earlier and its outputs are present"


def waiting_reason(running: ActionRecord | None, request_id: str) -> str:
    """Why an action is waited on, naming the request whose run has it when the workspace knows it."""
    other = running.request_id if running is not None and running.state is State.RUNNING else None
    if other is None:
        return "already running in another job; waiting for it"
    if other == request_id:
        return "already running for an earlier attempt of this request; waiting for it"
    return f"waiting for the run of request {other}"


def _requested_names(project: Project, requested: str | Iterable[str]) -> list[str]:
    names = [requested] if isinstance(requested, str) else list(requested)
    if RUN_ALL in names:
        return list(project.action_names)
    return list(dict.fromkeys(names))


def _request_problem(project: Project, requested: list[str], cancelled: set[str]) -> PlanError | None:
    if not requested:
        return PlanError("NO_ACTIONS", f"name at least one action, or {RUN_ALL}")
    unknown = [name for name in [*requested, *sorted(cancelled)] if name not in project.actions]
    if unknown:
        valid = ", ".join([RUN_ALL, *project.action_names])
        return PlanError(
            "UNKNOWN_ACTIONS",
            f"unknown action(s): {', '.join(unknown)}; valid names are {valid}",
            tuple(unknown),
        )
    reserved = [
        action.name
        for action in project
        for _, _, pattern in action.output_patterns
        if pattern.split("/", 1)[0] == LEVEL4_DIR
    ]
    if reserved:
        return PlanError(
            "RESERVED_OUTPUT_PATH",
            f"output patterns of {', '.join(sorted(set(reserved)))} are inside {LEVEL4_DIR}/, "
            "which the workspace keeps for files released after Level 4 checks",
            tuple(sorted(set(reserved))),
        )
    return None
