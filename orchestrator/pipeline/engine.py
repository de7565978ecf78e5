"""Run a `Plan`: each action starts as soon as its needs have succeeded (not level by level), up to
`concurrency` at once on a thread pool of subprocesses; failures propagate as DEPENDENCY_FAILED;
progress goes to one `on_event` callback, always called from the calling thread, so a CLI and a
Dagster op can show it without locks (with `stream_output`, also the actions' output lines as they
are written); a stop signal kills running actions with its code; `cancel` names single actions to
cancel while the rest go on; while `hold_database` says so (the site's database maintenance), database
actions do not start and running ones are stopped and start again when it ends; with `database_slots`,
a database action starts only once it holds one of the site's slots (MAX_DB_WORKERS), shared by all runs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Protocol

from orchestrator.pipeline.execute import NO_LIMITS, ActionHandle, ActionRun, Limits, run_action
from orchestrator.pipeline.images import ImageMap
from orchestrator.pipeline.jobdirs import JobDirs
from orchestrator.pipeline.plan import Decision, Plan, PlanError, plan_actions, waiting_reason
from orchestrator.pipeline.project import Project
from orchestrator.pipeline.status import ActionResult, State, StatusCode, random_id
from orchestrator.pipeline.workspace import Workspace

# Truthy to stop: True means CANCELLED_BY_USER; a StatusCode (KILLED_BY_ADMIN, JOB_TIMEOUT) says which.
Stop = threading.Event | Callable[[], "bool | StatusCode | None"]
_STOP_CODES = (StatusCode.CANCELLED_BY_USER, StatusCode.KILLED_BY_ADMIN)
# What a stop tells the actions it ends: (running, not yet started).
_STOP_MESSAGES = {
    StatusCode.CANCELLED_BY_USER: ("", "cancelled before it started"),
    StatusCode.KILLED_BY_ADMIN: ("", "killed by an administrator before it started"),
    StatusCode.JOB_TIMEOUT: (
        "the run's maximum runtime ran out; its processes were killed",
        "not started: the run's maximum runtime ran out",
    ),
}


class CancelRequests:
    """Actions to cancel while a plan runs, by name. Any thread may call `cancel`; the engine reads
    the names (by calling the object) at each turn of its loop. A running action is killed and ends
    CANCELLED_BY_USER; one not yet started, or waited on, ends so at once; its dependents in the
    plan are cancelled too; independent actions go on. Names of finished actions, or not in the
    plan, change nothing."""

    def __init__(self, names: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._names = set(names)

    def cancel(self, *names: str) -> None:
        with self._lock:
            self._names.update(names)

    def __call__(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._names)


class DatabaseSlots(Protocol):
    """The site's database slots, shared by every run (job-runner's MAX_DB_WORKERS). The engine calls
    both from its own thread, once per turn of its loop at most; `take` must not block."""

    def take(self, action: str) -> bool:
        """Whether `action` now holds a slot (asking again for an action that holds one says True)."""

    def give_back(self, action: str) -> None:
        """Free the slot `action` holds; nothing if it holds none."""


# What names the actions to cancel: a CancelRequests, or any callable the engine calls at each turn of
# its loop, in the calling thread (so it may ask a remote service, at its own pace), returning the names
# cancelled so far.
Cancel = Callable[[], Iterable[str]]


@dataclass(frozen=True)
class ActionEvent:
    # "reused" | "waiting" | "started" | "output" | "held" (database maintenance, or a database slot) | "finished"
    kind: str
    action: str
    job_id: str
    result: ActionResult | None = None
    lines: tuple[str, ...] = ()  # of the action's stdout+stderr, for "output"
    message: str = ""  # for "waiting": whose run it waits for
    at: float = field(default_factory=time.time)


@dataclass(frozen=True)
class RunResult:
    plan: Plan
    results: Mapping[str, ActionResult]  # every action of the plan, in plan order

    @property
    def ok(self) -> bool:
        return all(result.ok for result in self.results.values())

    @property
    def failed(self) -> list[ActionResult]:
        return [result for result in self.results.values() if not result.ok]


def run_request(
    project: Project,
    project_dir: str | Path,
    workspace: Workspace,
    requested_actions: str | Iterable[str],
    force_run_dependencies: bool = False,
    cancelled_actions: Iterable[str] = (),
    request_id: str | None = None,
    **options,
) -> RunResult | PlanError:
    """Plan a job request against the workspace as it is now, then run the plan."""
    plan = plan_actions(
        project,
        workspace.state(),
        requested_actions,
        force_run_dependencies,
        cancelled_actions,
        request_id=request_id,
    )
    if isinstance(plan, PlanError):
        return plan
    return run_plan(plan, project, project_dir, workspace, **options)


def run_plan(
    plan: Plan,
    project: Project,
    project_dir: str | Path,
    workspace: Workspace,
    *,
    concurrency: int = 2,
    continue_on_error: bool = False,
    limits: Limits = NO_LIMITS,
    image_map: ImageMap | None = None,
    on_event: Callable[[ActionEvent], None] | None = None,
    stop: Stop | None = None,
    cancel: Cancel | None = None,
    poll_interval: float = 0.2,
    stream_output: bool = False,
    database_url: str | None = None,
    job_dirs: JobDirs | None = None,
    labels: Mapping[str, str] | None = None,
    hold_database: Callable[[], bool] | None = None,
    database_slots: DatabaseSlots | None = None,
) -> RunResult:
    """Run `plan`. `database_url` is given, as DATABASE_URL, to its database actions only. With
    `job_dirs`, each action runs in a directory there that `orchestrator site` commands can find
    (`labels`, the runtime job, operation and Dagster run ids, go in its record)."""
    run = _Run(
        plan,
        project,
        Path(project_dir),
        workspace,
        max(1, concurrency),
        continue_on_error,
        limits,
        image_map or ImageMap(),
        on_event or (lambda event: None),
        stop,
        cancel,
        hold_database,
        database_slots,
        poll_interval,
        stream_output,
        dict(database_url=database_url, job_dirs=job_dirs, request_id=plan.request_id, labels=dict(labels or {})),
    )
    return run.run()


class _Run:
    def __init__(
        self,
        plan,
        project,
        project_dir,
        workspace,
        concurrency,
        continue_on_error,
        limits,
        image_map,
        on_event,
        stop,
        cancel,
        hold_database,
        database_slots,
        poll_interval,
        stream_output,
        run_options,
    ):
        self.plan, self.project, self.workspace = plan, project, workspace
        self.spec = dict(
            project=project,
            project_dir=project_dir,
            workspace=workspace,
            image_map=image_map,
            limits=limits,
            **run_options,
        )
        self.concurrency, self.continue_on_error = concurrency, continue_on_error
        self.emit, self.stop, self.poll_interval = on_event, stop, poll_interval
        self.cancel = cancel
        self.hold_database = hold_database
        self.database_held = False
        # database actions ready to start, held by maintenance or for a slot: the code saying which
        self.held: dict[str, StatusCode] = {}
        self.database_slots = database_slots
        self.slot_holders: set[str] = set()  # actions holding one of the site's database slots
        self.slot_users: set[str] = set()  # those and the ones in the slots' queue: each gives back once
        self.asked_for_slots: set[str] = set()  # at this turn of the loop (cleared at each)
        self.cancel_seen: set[str] = set()  # names `cancel` gave, handled once each
        self.cancelled: set[str] = set()  # actions cancelled while this run went on
        self.stream_output = stream_output
        self.owner = random_id()
        self.results: dict[str, ActionResult] = {}
        self.pending = [n for n, p in plan.actions.items() if p.decision in (Decision.RUN, Decision.WAIT)]
        self.waiting: dict[str, str] = {}  # action -> job id of the other run we wait on
        self.running: dict[Future, str] = {}
        self.handles: dict[str, ActionHandle] = {}
        self.stopped_with: StatusCode | None = None
        self.halted_by: str | None = None  # the failure that stopped new starts
        self.interrupted = False

    def run(self) -> RunResult:
        self._settle_decided()
        try:
            with ThreadPoolExecutor(self.concurrency, thread_name_prefix="action") as pool:
                try:
                    self._loop(pool)
                except BaseException:
                    # Terminated (a Dagster run's interrupt, SystemExit, an error in on_event): actions run
                    # in their own sessions, so nothing else would stop them, and leaving this block waits
                    # for them; kill them first, so the caller needs no thread of its own to do it.
                    for name in self.running.values():
                        self.handles[name].kill(StatusCode.CANCELLED_BY_USER)
                    raise
        finally:  # the actions have ended, however the run did: no slot stays taken
            for name in list(self.slot_users):
                self._give_back_slot(name)
        self._leave_unstarted()
        lost = ActionResult("", "", StatusCode.INTERNAL_ERROR, "its result was lost to an interrupt")
        ordered = {
            name: self.results.get(name, replace(lost, action=name, job_id=planned.job_id))
            for name, planned in self.plan.actions.items()
        }
        return RunResult(self.plan, MappingProxyType(ordered))

    def _loop(self, pool: ThreadPoolExecutor) -> None:
        while True:
            self._check_stop()
            self._check_cancel()
            self._check_database_hold()
            self._poll_waiting()
            self._schedule(pool)
            if not self.running and not self.waiting and not self._holding():
                return
            try:
                self._wait_for_progress()
            except KeyboardInterrupt:  # Ctrl-C: stop as a cancel does, and still return every result
                self.interrupted = True

    def _settle_decided(self) -> None:
        for name, planned in self.plan.actions.items():
            if planned.decision is Decision.REUSE:
                self._record(
                    ActionResult(
                        name,
                        planned.job_id,
                        StatusCode.SUCCEEDED,
                        f"reused: {planned.reason}",
                        details={"reused": True},
                    ),
                    kind="reused",
                )
            elif planned.decision is Decision.CANCEL:
                self._record(ActionResult(name, planned.job_id, StatusCode.CANCELLED_BY_USER, planned.reason))
            elif planned.decision is Decision.WAIT:
                self.pending.remove(name)
                self.waiting[name] = planned.job_id
                self.emit(ActionEvent("waiting", name, planned.job_id, message=planned.reason))

    def _schedule(self, pool: ThreadPoolExecutor) -> None:
        self.asked_for_slots.clear()
        for name in list(self.pending):
            planned = self.plan.actions[name]
            failed = next((n for n in planned.needs if n in self.results and not self.results[n].ok), None)
            cancelled = next((n for n in planned.needs if n in self.cancelled and not self._succeeded(n)), None)
            if cancelled:
                self.pending.remove(name)
                self.cancelled.add(name)
                self._record(self._result(name, StatusCode.CANCELLED_BY_USER, f"needs {cancelled}, which is cancelled"))
            elif failed:
                self.pending.remove(name)
                self._record(self._dependency_failed(name, failed), persist=True)
            elif not self.stopped_with and not self.halted_by and all(n in self.results for n in planned.needs):
                is_database_action = self.project.actions[name].is_database_action
                if self.database_held and is_database_action:
                    self._hold(name, "waiting for the site's database maintenance to end")
                elif len(self.running) < self.concurrency:
                    if is_database_action and not self._take_slot(name):
                        continue
                    self.pending.remove(name)
                    self.held.pop(name, None)
                    self._start(pool, name)
        # A place in the slots' queue is given a slot when one frees, and that slot then waits for its
        # action: an action that cannot start now (this run's workers are busy, or the run halted) leaves
        # the queue, and asks again when it can start.
        for name in self.slot_users - self.slot_holders - self.asked_for_slots:
            self._give_back_slot(name)

    def _take_slot(self, name: str) -> bool:
        """Whether `name` may start as far as the site's database slots go; if not, it is held, and asks
        again at the next turn of the loop."""
        if self.database_slots is None or name in self.slot_holders:
            return True
        self.slot_users.add(name)
        self.asked_for_slots.add(name)
        if self.database_slots.take(name):
            self.slot_holders.add(name)
            return True
        result = self._result(
            name, StatusCode.WAITING_ON_DB_WORKERS, "waiting for one of the site's database workers to be free"
        )
        self._hold(name, result.message, result)
        return False

    def _give_back_slot(self, name: str) -> None:
        """Free `name`'s slot, or its place in the slots' queue (a cancelled action must not be given a
        slot it will never use)."""
        if name in self.slot_users:
            self.slot_users.discard(name)
            self.slot_holders.discard(name)
            self.database_slots.give_back(name)

    def _check_database_hold(self) -> None:
        """Maintenance began: stop the running database actions (each comes back to `pending`); it ended:
        the held ones start as any ready action does."""
        if self.hold_database is None or bool(self.hold_database()) == self.database_held:
            return
        self.database_held = not self.database_held
        if self.database_held:
            for name in self.running.values():
                if self.project.actions[name].is_database_action:
                    self.handles[name].kill(StatusCode.WAITING_DB_MAINTENANCE)
        else:
            self.held.clear()

    def _holding(self) -> bool:
        """Database actions wait for maintenance to end, or for a slot (not if the run stopped or halted meanwhile)."""
        return not self.stopped_with and not self.halted_by and any(name in self.held for name in self.pending)

    def _hold(self, name: str, message: str, result: ActionResult | None = None) -> None:
        result = result or self._result(name, StatusCode.WAITING_DB_MAINTENANCE, message)
        if self.held.get(name) is not result.status_code:  # said once, and again when the reason changes
            self.held[name] = result.status_code
            self.emit(ActionEvent("held", name, result.job_id, result, message=message))

    def _start(self, pool: ThreadPoolExecutor, name: str) -> None:
        planned = self.plan.actions[name]
        other = self.workspace.start_action(name, planned.job_id, self.owner, time.time(), self.plan.request_id)
        if other:  # another process started it since we planned: wait for that run
            self._give_back_slot(name)
            self.waiting[name] = other
            reason = waiting_reason(self.workspace.state().actions.get(name), self.plan.request_id)
            self.emit(ActionEvent("waiting", name, other, message=reason))
            return
        spec = ActionRun(self.project.actions[name], planned.job_id, **self.spec)
        handle = self.handles[name] = ActionHandle(follow_output=self.stream_output)
        self.running[pool.submit(run_action, spec, handle)] = name
        self.emit(ActionEvent("started", name, planned.job_id))

    def _wait_for_progress(self) -> None:
        polling = (
            bool(self.waiting)
            or bool(self.held)  # for maintenance to end, or a database slot
            or self.stream_output
            or any(check is not None for check in (self.stop, self.cancel, self.hold_database))
        )
        if not self.running:
            time.sleep(self.poll_interval)
            return
        done, _ = wait(self.running, self.poll_interval if polling else None, FIRST_COMPLETED)
        for name in self.running.values():
            self._emit_output(name)  # of those that finished too: their last lines before their result
        for future in done:
            name = self.running.pop(future)
            self._give_back_slot(name)  # a database action stopped for maintenance takes one again to restart
            try:
                result = future.result()
            except Exception as exc:  # run_action reports its failures; this is a bug
                result = ActionResult(
                    name, self.plan.actions[name].job_id, StatusCode.INTERNAL_ERROR, f"{type(exc).__name__}: {exc}"
                )
            if result.status_code is StatusCode.WAITING_DB_MAINTENANCE:  # stopped for maintenance: again later
                self.pending.insert(self._plan_position(name), name)
                self._hold(name, result.message, result)
                continue
            self._record(result)
            if not result.ok and not self.continue_on_error and result.status_code not in _STOP_CODES:
                self.halted_by = self.halted_by or name

    def _emit_output(self, name: str) -> None:
        if self.stream_output and (lines := self.handles[name].new_output()):
            self.emit(ActionEvent("output", name, self.plan.actions[name].job_id, lines=tuple(lines)))

    def _poll_waiting(self) -> None:
        if not self.waiting:
            return
        state = self.workspace.state()
        for name, job_id in list(self.waiting.items()):
            record = state.actions.get(name)
            if name in state.running or record is None:
                continue
            del self.waiting[name]
            done = record.state is State.SUCCEEDED and record.outputs_exist
            code = (
                StatusCode.SUCCEEDED
                if done
                else StatusCode.__members__.get(record.status_code, StatusCode.INTERNAL_ERROR)
            )
            where = f"request {record.request_id}" if record.request_id else "another request"
            self._record(
                ActionResult(
                    name,
                    record.job_id or job_id,
                    code,
                    f"ran in {where} (job {record.job_id}): {record.status_code}",
                )
            )

    def _check_stop(self) -> None:
        value = self.interrupted or (
            self.stop.is_set() if isinstance(self.stop, threading.Event) else self.stop() if self.stop else None
        )
        if not value or self.stopped_with:
            return
        self.stopped_with = value if isinstance(value, StatusCode) else StatusCode.CANCELLED_BY_USER
        running_message, pending_message = _STOP_MESSAGES.get(self.stopped_with, ("", "stopped before it started"))
        for name in self.running.values():
            self.handles[name].kill(self.stopped_with, running_message)
        for name in self.pending + list(self.waiting):
            self._record(ActionResult(name, self.plan.actions[name].job_id, self.stopped_with, pending_message))
        self.pending.clear()
        self.waiting.clear()

    def _check_cancel(self) -> None:
        if self.cancel is None:
            return
        new = set(self.cancel()) - self.cancel_seen
        self.cancel_seen |= new
        for name in [n for n in self.plan.actions if n in new and n not in self.results]:  # plan order
            self.cancelled.add(name)
            if name in self.pending:
                self.pending.remove(name)
                self._record(self._result(name, StatusCode.CANCELLED_BY_USER, "cancelled before it started"))
            elif name in self.waiting:
                del self.waiting[name]
                message = "cancelled while it waited for another request's run (which goes on)"
                self._record(self._result(name, StatusCode.CANCELLED_BY_USER, message))
            elif name in self.running.values():
                self.handles[name].kill(StatusCode.CANCELLED_BY_USER)  # its result comes when it has ended

    def _plan_position(self, name: str) -> int:
        order = list(self.plan.actions)
        return sum(order.index(other) < order.index(name) for other in self.pending)

    def _succeeded(self, name: str) -> bool:
        # a cancel may come too late: the action had ended well before its kill landed
        return name in self.results and self.results[name].ok

    def _result(self, name: str, code: StatusCode, message: str) -> ActionResult:
        return ActionResult(name, self.plan.actions[name].job_id, code, message)

    def _leave_unstarted(self) -> None:
        for name in self.pending:
            message = f"not started: {self.halted_by} failed (--continue-on-error keeps independent actions going)"
            self._record(ActionResult(name, self.plan.actions[name].job_id, StatusCode.CREATED, message))

    def _dependency_failed(self, name: str, failed: str) -> ActionResult:
        return ActionResult(
            name,
            self.plan.actions[name].job_id,
            StatusCode.DEPENDENCY_FAILED,
            f"Not starting as dependency failed: {failed} ({self.results[failed].status_code.value})",
        )

    def _record(self, result: ActionResult, persist: bool = False, kind: str = "finished") -> None:
        self._give_back_slot(result.action)
        if persist:
            self.workspace.finish_action(result)
        self.results[result.action] = result
        self.emit(ActionEvent(kind, result.action, result.job_id, result))
