"""Workflow `pipeline-1.0.0`: run a submitted study's project.yaml actions at this site.

The input is a `study` object (a tar.gz of project.yaml + code); the job config is a job request
{workspace, actions, force_run_dependencies, database, job_request_id, cancelled_actions}. Ops:
unpack and verify the study, plan against the site's persistent workspace, execute (each action's
start, output lines and end are logged and observed in Dagster, and its state written to the
operation's metadata as the run goes), then report the outputs by privacy level. Failed actions fail
the execute step itself, with each one's code, message and last log lines as the failure's metadata.
Actions cancelled on the runtime job (`cancelled_parts`) after submission are honoured when planning
and, polled while the actions run, stopped where they are.
"""

import tarfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

import dagster as dg
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from orchestrator.pipeline import (
    ActionEvent,
    Project,
    ProjectError,
    UnsafeArchiveError,
    Workspace,
    extract_study,
    load_project,
)
from orchestrator.pipeline.databases import DATABASE_NAME_PATTERN, DatabaseMap, DatabaseMapError
from orchestrator.pipeline.engine import run_plan
from orchestrator.pipeline.execute import LOG_TAIL_LINES, Limits
from orchestrator.pipeline.images import ImageMap, ImageMapError
from orchestrator.pipeline.jobdirs import JobDirs
from orchestrator.pipeline.plan import Decision, Plan, PlanError, plan_actions
from orchestrator.pipeline.status import StatusCode
from orchestrator.pipeline.workspace import isoformat
from orchestrator.resources import PipelineResource, RuntimeResource
from orchestrator.runtime.client import RuntimeClientError
from orchestrator.workflows.common import (
    MAX_RUNTIME_TAG,
    SITE_TAG,
    JobInput,
    WorkflowFailure,
    load_input,
    refuse_finished_operation,
    report_failure,
    report_progress,
    report_result,
    run_dir,
    run_tags,
)
from orchestrator.workflows.database_slots import database_slots

WORKFLOW_ID = "pipeline-1.0.0"


class JobRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    workspace: str = Field("default", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
    actions: list[str] = Field(["run_all"], min_length=1)
    force_run_dependencies: bool = False
    # Which of the site's databases (ORCHESTRATOR_DATABASES) its database actions get.
    database: str = Field("full", pattern=DATABASE_NAME_PATTERN)
    # The jobs site's job request this job runs, if it came from one: the plan's request id, which
    # the workspace records while an action runs, so another request waiting on it can name it.
    job_request_id: str | None = Field(None, min_length=1, max_length=200)
    cancelled_actions: list[str] = []


def config_problem(config: dict) -> str | None:
    try:
        JobRequest.model_validate(config)
    except ValidationError as exc:
        return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
    return None


@dataclass
class Study:
    job_input: JobInput
    request: JobRequest
    project_dir: str
    project: Project  # parsed once, here; later ops take it from this value


@dg.op(description="Unpack the study archive safely and validate its project.yaml and job request.")
def unpack_study(context: dg.OpExecutionContext, runtime: RuntimeResource, job_input: JobInput) -> Study:
    try:
        request = JobRequest.model_validate(job_input.config)
    except ValidationError as exc:
        raise WorkflowFailure("INVALID_JOB_REQUEST", f"Invalid job config: {config_problem(job_input.config)}") from exc
    if len(job_input.paths) != 1:
        raise WorkflowFailure(
            "INVALID_JOB_REQUEST", f"A pipeline job takes exactly one study object; it has {len(job_input.paths)}."
        )
    project_dir = run_dir(context.run_id) / "study"
    try:
        extract_study(job_input.paths[0], project_dir)
    except UnsafeArchiveError as exc:
        raise WorkflowFailure("UNSAFE_ARCHIVE", f"The study archive was rejected before extraction: {exc}") from None
    except (tarfile.TarError, OSError, EOFError, ValueError) as exc:  # what garbage bytes raise
        raise WorkflowFailure("INVALID_ARCHIVE", f"The study is not a readable tar.gz archive: {exc}") from None
    try:
        project = load_project(project_dir)
    except ProjectError as exc:
        message = f"{len(exc.problems)} problem(s) in project.yaml:\n" + "\n".join(p.describe() for p in exc.problems)
        raise WorkflowFailure(
            "INVALID_PROJECT",
            message,
            {
                "problems": [
                    {"code": p.code, "message": p.message, "action": p.action, "field": p.field, "line": p.line}
                    for p in exc.problems
                ]
            },
        ) from None
    context.add_output_metadata(
        {"actions": len(project.actions), "version": str(project.version), "workspace": request.workspace}
    )
    report_progress(
        context, runtime, step="unpack_study", status_message=f"study valid: {len(project.actions)} action(s)"
    )
    return Study(job_input=job_input, request=request, project_dir=str(project_dir), project=project)


def _action_state(event: ActionEvent) -> dict:
    state = {
        "state": "running" if event.kind in ("started", "waiting") else "reused" if event.kind == "reused" else None
    }
    if event.kind == "started":
        state["started_at"] = isoformat(event.at)  # so a follower sees how long a running action has been going
    if event.kind == "waiting":
        state["status_message"] = event.message  # whose run it waits for
    if event.result is not None:
        r = event.result
        state = {
            "state": r.state.value,
            "status_code": r.status_code.value,
            "status_message": r.message,
            "started_at": isoformat(r.started_at),
            "finished_at": isoformat(r.finished_at),
            "outputs": [o.path for o in r.outputs],
            "withheld": [o.path for o in r.withheld],
            "log_exists": bool(r.log_path) and Path(r.log_path).is_file(),  # the log itself stays at the site
            **({"peak_memory_bytes": r.peak_memory_bytes} if r.peak_memory_bytes is not None else {}),
            **({"cpu_seconds": r.cpu_seconds} if r.cpu_seconds is not None else {}),
        }
    return state


# How a plan decision and an action state read in a status message ("4 actions to run, 2 reused").
DECISION_WORDS = {"run": "to run", "reuse": "reused", "wait": "waited on", "cancel": "cancelled"}


def count_phrase(counts: dict[str, int], words: dict[str, str] | None = None) -> str:
    """{"running": 4, "succeeded": 2} -> "4 actions running, 2 succeeded" (the noun once, as people write it)."""
    parts = [f"{n} {(words or {}).get(k, k)}" for k, n in counts.items() if n]
    if not parts:
        return "no actions"
    first_count = next(n for n in counts.values() if n)
    parts[0] = parts[0].replace(" ", " action " if first_count == 1 else " actions ", 1)
    return ", ".join(parts)


def state_counts(actions: dict) -> dict[str, int]:
    """Per-action states counted in the order an action goes through them."""
    states = [a.get("state") or "pending" for a in actions.values()]
    order = ["running", "succeeded", "reused", "failed", "pending"]
    return {state: states.count(state) for state in order + sorted(set(states) - set(order))}


def pending_states(plan: Plan) -> dict:
    """Each planned action's state in the operation's metadata before anything has run; one waited on
    says whose run it waits for."""
    return {
        name: {
            "state": "pending",
            "decision": planned.decision.value,
            "order": position,  # the plan's order (dependencies first); JSON objects keep none on PostgreSQL
            **({"status_message": planned.reason} if planned.decision is Decision.WAIT else {}),
        }
        for position, (name, planned) in enumerate(plan.actions.items())
    }


class _Progress:
    """Turns engine events into Dagster logs/observations and operation metadata, in the op's thread.

    An action's output lines go to the step's log, each prefixed by the action's name, up to
    OUTPUT_LINES_SHOWN per action: the site's Dagster event log is no archive for a runaway print
    loop; the whole output is in metadata/<action>.log in the workspace.

    The operation gets the per-action states at most once a second (a 10,000-action request must not
    cost 10,000 PATCHes of a growing document), and a failed update is logged, never fatal: the run
    matters more than its progress bar, and the lease sensor notices a runtime that is really gone."""

    REPORT_EVERY_SECONDS = 1.0
    OUTPUT_LINES_SHOWN = 10_000
    OUTPUT_LINE_CHARS = 2_000

    def __init__(self, context, runtime, workspace: str, plan: Plan):
        self.context, self.runtime, self.workspace = context, runtime, workspace
        self.actions = pending_states(plan)
        self.reported_at = 0.0
        # a state changed since the last report reached the runtime; the plan step reported these
        # pending states, so the first report is the first change, sent at once
        self.unreported = False
        self.lines_shown: dict[str, int] = {}

    def report(self, force: bool = False) -> None:
        """Send the states if any changed, at most once a second; the engine calls this at each turn of
        its loop too, so a change held back by that limit goes out within a second, not with the next event."""
        if not force and (not self.unreported or time.monotonic() - self.reported_at < self.REPORT_EVERY_SECONDS):
            return
        try:
            report_progress(
                self.context,
                self.runtime,
                step="execute_actions",
                actions=self.actions,
                status_message=count_phrase(state_counts(self.actions)),
            )
            self.reported_at, self.unreported = time.monotonic(), False
        except RuntimeClientError as exc:
            self.context.log.warning(f"could not report progress to the runtime ({exc}); the run goes on")

    def show_output(self, event: ActionEvent) -> None:
        shown = self.lines_shown.get(event.action, 0)
        lines = event.lines[: max(0, self.OUTPUT_LINES_SHOWN - shown)]
        self.lines_shown[event.action] = shown + len(event.lines)
        if lines:
            self.context.log.info("\n".join(f"[{event.action}] {line[: self.OUTPUT_LINE_CHARS]}" for line in lines))
        if shown + len(event.lines) > self.OUTPUT_LINES_SHOWN >= shown:
            self.context.log.info(
                f"[{event.action}] ... more output than the {self.OUTPUT_LINES_SHOWN} lines shown "
                f"here; all of it is in metadata/{event.action}.log in workspace {self.workspace}"
            )

    def __call__(self, event: ActionEvent) -> None:
        if event.kind == "output":
            return self.show_output(event)
        self.actions[event.action] = {**self.actions.get(event.action, {}), **_action_state(event)}
        self.unreported = True
        result = event.result
        if event.kind == "held":  # database maintenance: pending again, not an outcome
            self.context.log.warning(
                f"action {event.action} (job {event.job_id}): {result.status_code.value}: {result.message}"
            )
        elif result is None:
            self.context.log.info(f"action {event.action} (job {event.job_id}): {event.kind}")
        else:
            log = self.context.log.info if result.ok else self.context.log.error
            log(f"action {event.action} (job {event.job_id}): {result.status_code.value}: {result.message}")
            self.context.log_event(
                dg.AssetObservation(
                    asset_key=dg.AssetKey(["workspace", self.workspace, event.action]),
                    metadata={
                        "status_code": result.status_code.value,
                        "message": result.message,
                        "duration_s": round(result.duration or 0, 3),
                        **(
                            {"peak_memory_mib": round(result.peak_memory_bytes / 2**20, 1)}
                            if result.peak_memory_bytes
                            else {}
                        ),
                        **({"cpu_s": result.cpu_seconds} if result.cpu_seconds is not None else {}),
                        "log": result.log_path or "",
                        **({"log_tail": dg.MetadataValue.text("\n".join(result.log_tail))} if not result.ok else {}),
                        "outputs": dg.MetadataValue.json(
                            {
                                o.path: {"level": o.level, "sha256": o.sha256, "size": o.size, "withheld": o.withheld}
                                for o in result.outputs
                            }
                        ),
                    },
                )
            )
        self.report()


class _CancelledParts:
    """For the engine to poll: the actions cancelled on the runtime job after submission (its
    `cancelled_parts`), asked for at most every POLL_SECONDS, from the engine's loop in the op's
    thread. A failed request, or a runtime that has no such field, cancels nothing more: the run
    goes on, and a whole-job cancel still stops it through the lease sensor."""

    POLL_SECONDS = 2.0

    def __init__(self, context, runtime: RuntimeResource, job_id: str, already: Iterable[str]):
        self.context, self.runtime, self.job_id = context, runtime, job_id
        self.names = frozenset(already)
        self.polled_at = time.monotonic()

    def __call__(self) -> frozenset[str]:
        if time.monotonic() - self.polled_at < self.POLL_SECONDS:
            return self.names
        self.polled_at = time.monotonic()
        try:
            job = self.runtime.client().get_job(self.job_id)
        except (RuntimeClientError, ValueError) as exc:  # ValueError: a body that is no Job
            self.context.log.warning(f"could not read cancelled actions from the runtime ({exc}); the run goes on")
            return self.names
        new = set(getattr(job, "cancelled_parts", None) or []) - self.names
        if new:
            self.context.log.info(f"cancelled after submission: {', '.join(sorted(new))}")
            self.names |= new
        return self.names


class _RunDeadline:
    """For the engine to poll: JOB_TIMEOUT once the run has gone on for its `dagster/max_runtime` (the
    claim sensor's tag). Dagster's run monitoring would end the run then too, but only on its next
    check and as a failed run; here the actions end JOB_TIMEOUT and the job fails with their codes."""

    def __init__(self, context):
        try:
            seconds = float(run_tags(context).get(MAX_RUNTIME_TAG) or 0)
        except ValueError:
            seconds = 0
        record = context.instance.get_run_record_by_id(context.run_id) if seconds > 0 else None
        started = (record.start_time if record else None) or time.time()
        self.deadline = started + seconds if seconds > 0 else None

    def __call__(self) -> StatusCode | None:
        return StatusCode.JOB_TIMEOUT if self.deadline is not None and time.time() >= self.deadline else None


class _DatabaseMaintenance:
    """For the engine to poll: whether this site is in database maintenance (the runtime's site status),
    asked for at most every POLL_SECONDS. A failed request keeps the last answer; a run made by hand (no
    site tag) is never held."""

    POLL_SECONDS = 2.0

    def __init__(self, context, runtime: RuntimeResource):
        self.context, self.runtime = context, runtime
        self.site_id = run_tags(context).get(SITE_TAG)
        self.on, self.polled_at = False, 0.0

    def __call__(self) -> bool:
        if not self.site_id or time.monotonic() - self.polled_at < self.POLL_SECONDS:
            return self.on
        self.polled_at = time.monotonic()
        try:
            on = self.runtime.client().site_status(self.site_id).maintenance
        except (RuntimeClientError, ValueError) as exc:
            self.context.log.warning(f"could not read the site's maintenance mode ({exc}); keeping: {self.on}")
            return self.on
        if on != self.on:
            self.context.log.warning(
                "database maintenance began: database actions stop and wait"
                if on
                else "database maintenance ended: database actions run again"
            )
        self.on = on
        return on


def cancelled_parts(job: dict, project: Project) -> tuple[list[str], list[str]]:
    """(names of the project's actions, other names) in the runtime job's `cancelled_parts`."""
    parts = [part for part in job.get("cancelled_parts") or [] if isinstance(part, str)]
    return [p for p in parts if p in project.actions], [p for p in parts if p not in project.actions]


def site_databases(pipeline: PipelineResource) -> DatabaseMap:
    try:
        return DatabaseMap.from_json(pipeline.databases)
    except DatabaseMapError as exc:
        raise WorkflowFailure("SITE_MISCONFIGURED", str(exc)) from None


def request_id_of(study: Study) -> str:
    """The plan's request id: the jobs site's job request when there is one, else the runtime job."""
    return study.request.job_request_id or study.job_input.job["id"]


@dataclass
class PlannedStudy:
    study: Study
    plan: Plan


@dg.op(
    description="Plan the job request against the site's workspace: which actions run, are reused, waited on or cancelled."
)
def plan_study(
    context: dg.OpExecutionContext, runtime: RuntimeResource, pipeline: PipelineResource, study: Study
) -> PlannedStudy:
    request = study.request
    workspace = Workspace.open(pipeline.workspaces_dir, request.workspace)
    # Actions cancelled on the job since it was submitted count as the request's own cancellations;
    # names the project does not have cancel nothing (they are not the request's mistake).
    cancelled, strangers = cancelled_parts(study.job_input.job, study.project)
    if strangers:
        context.log.warning(f"the job's cancelled_parts name no action of this project: {', '.join(strangers)}")
    plan = plan_actions(
        study.project,
        workspace.state(),
        request.actions,
        request.force_run_dependencies,
        [*request.cancelled_actions, *cancelled],
        request_id=request_id_of(study),
    )
    if isinstance(plan, PlanError):
        raise WorkflowFailure(plan.code, plan.message, {"actions": list(plan.names)})
    _check_database(study, plan, site_databases(pipeline))
    decisions = {name: planned.decision.value for name, planned in plan.actions.items()}
    counts = {decision: list(decisions.values()).count(decision) for decision in sorted(set(decisions.values()))}
    context.add_output_metadata(
        {"decisions": dg.MetadataValue.json(decisions), **{f"to_{k}": v for k, v in counts.items()}}
    )
    report_progress(
        context,
        runtime,
        step="plan",
        status_message=count_phrase({k: counts.get(k, 0) for k in DECISION_WORDS}, DECISION_WORDS),
        actions=pending_states(plan),
    )
    return PlannedStudy(study, replace(plan, actions=dict(plan.actions)))  # a plain dict travels between op processes


def _database_actions(study: Study, plan: Plan) -> list[str]:
    return [name for name in plan.to_run if study.project.actions[name].is_database_action]


def _check_database(study: Study, plan: Plan, databases: DatabaseMap) -> None:
    """Before anything runs: the database actions this plan runs need the database the request names.
    A plan with none needs no database at all."""
    actions = _database_actions(study, plan)
    if not actions:
        return
    message = databases.unknown_database_message(study.request.database, actions)
    if message:
        raise WorkflowFailure(
            "UNKNOWN_DATABASE",
            message,
            {"database": study.request.database, "site_databases": databases.names, "actions": actions},
        )


@dg.op(
    description="Run the planned actions, in parallel up to the site's limit; each action's output and outcome "
    "are shown in Dagster, and a failed action fails this step with its code, message and log tail."
)
def execute_actions(
    context: dg.OpExecutionContext, runtime: RuntimeResource, pipeline: PipelineResource, planned: PlannedStudy
) -> dict:
    # "Re-execute from failure" in the Dagster UI starts here, past load_input's check: refuse
    # before any action runs for an operation that can no longer take a report.
    study, plan = planned.study, planned.plan
    refuse_finished_operation(context, runtime.client().get_job(study.job_input.job["id"]))
    workspace = Workspace.open(pipeline.workspaces_dir, study.request.workspace)
    try:
        image_map = ImageMap.from_json(pipeline.image_map)
    except ImageMapError as exc:
        raise WorkflowFailure("SITE_MISCONFIGURED", str(exc)) from None
    # Read again here, not passed from plan_study: op outputs are pickled to disk, and URLs hold passwords.
    database_url = site_databases(pipeline).url_for(study.request.database)
    limits = Limits(timeout=pipeline.action_timeout_seconds or None, memory=pipeline.action_memory_bytes or None)
    progress = _Progress(context, runtime, study.request.workspace, plan)
    cancel = _CancelledParts(context, runtime, study.job_input.job["id"], plan.named(Decision.CANCEL))
    try:
        # As job-runner does, a failed action fails its dependents only; independent ones still run. A run
        # termination raises here, in this thread; the engine kills its actions before it propagates.
        result = run_plan(
            plan,
            study.project,
            study.project_dir,
            workspace,
            concurrency=pipeline.concurrency,
            continue_on_error=True,
            limits=limits,
            image_map=image_map,
            on_event=progress,
            cancel=lambda: progress.report() or cancel(),  # called at each turn of the engine's loop
            stream_output=True,
            database_url=database_url,
            hold_database=_DatabaseMaintenance(context, runtime),
            # a plan without database actions leaves the site's pool alone (no lock, no query)
            database_slots=database_slots(context, pipeline.max_db_workers) if _database_actions(study, plan) else None,
            stop=_RunDeadline(context),
            job_dirs=JobDirs(pipeline.jobs_dir) if pipeline.jobs_dir else None,
            labels={
                "runtime_job_id": study.job_input.job["id"],
                "operation_id": study.job_input.operation_id,
                "dagster_run_id": context.run_id,
            },
        )
    except Exception as error:
        progress.report(force=True)  # the states of the actions that did finish
        raise WorkflowFailure(
            "INTERNAL_ERROR", f"The pipeline engine failed: {type(error).__name__}: {error}"
        ) from error
    progress.report(force=True)
    run = {
        "workspace": study.request.workspace,
        "ok": result.ok,
        "actions": progress.actions,
        "outputs": _outputs_by_level(workspace, result),
    }
    if not result.ok:
        raise _actions_failed(result, run)
    context.add_output_metadata({"outputs": dg.MetadataValue.json(run["outputs"])})
    return run


def _actions_failed(result, run: dict) -> WorkflowFailure:
    """The runtime gets each action's code and message (in `run`); the step's metadata adds, for
    each failed action, the last lines of its log, which never leave the site."""
    failed = result.failed
    metadata = {}
    for action in failed:  # keys with a suffix: an action may be called "code" or "outputs"
        metadata[f"{action.action} status"] = f"{action.status_code.value}: {action.message}"
        if action.log_tail:
            tail = dg.MetadataValue.text("\n".join(action.log_tail))
            metadata[f"{action.action} log (last {LOG_TAIL_LINES} lines)"] = tail
    metadata["outputs"] = dg.MetadataValue.json(run["outputs"])
    message = f"{len(failed)} action(s) failed: " + ", ".join(f"{a.action} ({a.status_code.value})" for a in failed)
    return WorkflowFailure("ACTIONS_FAILED", message, run, metadata)


def _outputs_by_level(workspace: Workspace, result) -> dict:
    """The outputs this job wrote or reused, by level. A failed action's files in the workspace are
    an earlier job's (a failed run leaves them in place), so they are not this job's outputs."""
    levels: dict[str, list[str]] = {}
    for path, level in workspace.output_files(name for name, action in result.results.items() if action.ok):
        levels.setdefault(level, []).append(path)
    return {level: sorted(paths) for level, paths in sorted(levels.items())}


@dg.job(name="pipeline", hooks={report_failure}, description="Run a study's project.yaml actions (pipeline-1.0.0).")
def pipeline_job():
    report_result(execute_actions(plan_study(unpack_study(load_input()))))
