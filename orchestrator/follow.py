"""What a submission triggers, and following those jobs to their end (`orchestrator submit --wait`).

A site's new_objects sensor makes the jobs; their ids are derived from (workflow, object) just as the
runtime derives them, so the CLI knows them before they exist and polls until they end.
"""

import time
from dataclasses import dataclass
from datetime import UTC, datetime

import click

from orchestrator.render import FINAL_JOB_STATES, iso
from orchestrator.runtime.client import RuntimeClient
from orchestrator.runtime.models import Job, Object, Operation, Trigger, job_id_for


@dataclass(frozen=True)
class TriggeredJob:
    job_id: str
    trigger: Trigger


def triggered_jobs(client: RuntimeClient, obj: Object) -> tuple[list[TriggeredJob], list[str]]:
    """The jobs the object's triggers make, and the types no trigger starts anything for."""
    triggers = [t for t in client.list_triggers() if t.object_type_id in obj.types]
    untriggered = [t for t in obj.types if not any(tr.object_type_id == t for tr in triggers)]
    jobs = {job_id_for(t.workflow_id, [obj.id]): t for t in triggers}  # two triggers of one workflow make one job
    return [TriggeredJob(job_id, trigger) for job_id, trigger in jobs.items()], untriggered


class JobWatcher:
    """Prints a line whenever a job's status, step or an action's state changes (plain lines: readable in
    a terminal, a log file or CI alike)."""

    def __init__(self, client: RuntimeClient, job_id: str):
        self.client, self.job_id = client, job_id
        self.seen: dict[str, object] = {}
        self.job: Job | None = None

    def poll(self) -> bool:
        """One look at the job; True once it has ended."""
        self.job = job = self.client.find_job(self.job_id)
        if job is None:
            self._say("made", False, "waiting for the site's new_objects sensor to make the job")
            return False
        operation = self.client.get_operation(job.operation_id) if job.operation_id else None
        ended = job.status in FINAL_JOB_STATES
        status = job.status + (
            f" (attempt {job.attempts + 1} of {job.max_attempts})" if job.status == "claimed" else ""
        )
        if not ended:
            self._say("status", job.status, status)
        if operation is not None:
            self._operation(operation)
        if ended:  # after the operation's last lines, so the outcome is the last thing printed
            self._say("status", job.status, status)
        return ended

    def _operation(self, op: Operation) -> None:
        meta = op.metadata
        if meta.get("step"):
            message = meta.get("status_message")
            self._say("step", (op.id, meta["step"], message), f"{meta['step']}" + (f": {message}" if message else ""))
        for name, action in (meta.get("actions") or {}).items():
            state = action.get("state") or "pending"
            detail = _action_detail(state, action)
            self._say(f"action:{name}", (op.id, state), f"  {name}: {state}" + (f" {detail}" if detail else ""))
        if op.done and op.error:
            self._say("error", op.id, f"error {op.error.get('code')}: {op.error.get('message')}")

    def _say(self, key: str, value, line: str) -> None:
        if self.seen.get(key, object()) != value:
            self.seen[key] = value
            click.echo(f"{iso(datetime.now(UTC))}  {self.job_id}  {line}")


def _action_detail(state: str, action: dict) -> str:
    if state == "running":
        return f"started {iso(action['started_at'])}" if action.get("started_at") else ""
    finished = iso(action["finished_at"]) if action.get("finished_at") else ""
    return " ".join(filter(None, [action.get("status_code"), finished]))


def wait_for_jobs(
    client: RuntimeClient, job_ids: list[str], interval: float = 1.0, timeout: float | None = None
) -> list[Job]:
    """Follow every job to its end; the jobs as they ended. Raises ClickException on timeout."""
    watchers = [JobWatcher(client, job_id) for job_id in job_ids]
    deadline = None if timeout is None else time.monotonic() + timeout
    pending = list(watchers)
    while True:
        pending = [w for w in pending if not w.poll()]
        if not pending:
            return [w.job for w in watchers]
        if deadline is not None and time.monotonic() > deadline:
            still = ", ".join(w.job_id for w in pending)
            raise click.ClickException(f"gave up after {timeout:.0f} s; still not ended: {still}")
        time.sleep(interval)
