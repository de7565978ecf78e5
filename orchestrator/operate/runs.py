"""The action runs a site operator can name: those with a directory in the site's jobs dir (running,
or kept after a kill or an internal error) and each workspace's last run of each action (from its
manifest). Found by a sub-string of the action run's job id or of its runtime job's id; killed with
KILLED_BY_ADMIN; their logs read, or followed while they run."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from orchestrator.pipeline.jobdirs import JobDirs, JobRecord
from orchestrator.pipeline.status import ActionResult, StatusCode
from orchestrator.pipeline.workspace import Workspace, WorkspaceError


@dataclass(frozen=True)
class ActionRunRef:
    job_id: str
    action: str
    workspace: str
    status: str  # running | lost | the status code it ended with
    record: JobRecord | None = None  # when it has a directory in the jobs dir

    @property
    def runtime_job_id(self) -> str:
        return (self.record.labels.get("runtime_job_id") if self.record else None) or ""

    def describe(self) -> str:
        runtime_job = f", runtime job {self.runtime_job_id}" if self.runtime_job_id else ""
        return f"{self.job_id}  {self.action} in {self.workspace}{runtime_job}: {self.status}"


class Site:
    """A site's action runs on disk: its jobs dir and its workspaces."""

    def __init__(self, jobs_dir: str | Path, workspaces_dir: str | Path):
        self.job_dirs = JobDirs(jobs_dir)
        self.workspaces_dir = Path(workspaces_dir)

    def workspaces(self) -> Iterator[Workspace]:
        if self.workspaces_dir.is_dir():
            for entry in sorted(self.workspaces_dir.iterdir()):
                if entry.is_dir():
                    yield Workspace.open(self.workspaces_dir, entry.name)

    def runs(self) -> list[ActionRunRef]:
        refs = {}
        for workspace in self.workspaces():
            try:
                actions = workspace.read_manifest()["actions"]
            except WorkspaceError:
                continue  # a damaged manifest: `orchestrator check` says so; its runs are not nameable here
            for action, entry in actions.items():
                if job_id := entry.get("job_id"):
                    status = entry.get("status_code") or entry.get("state") or "?"
                    refs[job_id] = ActionRunRef(job_id, action, workspace.name, status)
        for record in self.job_dirs.records():  # a directory's record is fresher than a manifest's entry
            refs[record.job_id] = ActionRunRef(record.job_id, record.action, record.workspace, _status(record), record)
        return sorted(refs.values(), key=lambda ref: (ref.workspace, ref.action, ref.job_id))

    def match(self, fragment: str, action: str | None = None) -> list[ActionRunRef]:
        """Runs whose job id (or runtime job id) contains `fragment`; an exact job id is the only match."""
        runs = [ref for ref in self.runs() if action is None or ref.action == action]
        exact = [ref for ref in runs if fragment in (ref.job_id, ref.runtime_job_id)]
        return exact or [ref for ref in runs if fragment in ref.job_id or fragment in ref.runtime_job_id]

    # ---- kill
    def kill(self, ref: ActionRunRef, wait_seconds: float = 30) -> str:
        """End a running action KILLED_BY_ADMIN; what happened, in words. Safe to repeat."""
        record = ref.record
        if record is None or record.finished:
            return f"{ref.job_id} ({ref.action}) has already ended: {ref.status}"
        self.job_dirs.request_kill(ref.job_id)
        if record.live():  # its engine ends it and reports it; wait for that
            deadline = time.monotonic() + wait_seconds
            while time.monotonic() < deadline:
                now = self.job_dirs.read(ref.job_id)
                if now is None or now.finished:
                    return f"killed {ref.job_id} ({ref.action} in {ref.workspace})"
                time.sleep(0.1)
            raise TimeoutError(f"{ref.job_id} ({ref.action}) did not end within {wait_seconds:g}s of its kill")
        # Lost: the process that ran it is gone (the site was killed). End what is left and say so.
        message = "killed by an administrator after its site process was gone"
        self.job_dirs.finish(ref.job_id, StatusCode.KILLED_BY_ADMIN.value, message)
        workspace = Workspace.open(self.workspaces_dir, ref.workspace)
        if workspace.read_manifest()["actions"].get(ref.action, {}).get("job_id") == ref.job_id:
            workspace.finish_action(
                ActionResult(ref.action, ref.job_id, StatusCode.KILLED_BY_ADMIN, message, finished_at=time.time())
            )
        return f"killed {ref.job_id} ({ref.action} in {ref.workspace}), whose site process was gone"

    def clean_up(self, ref: ActionRunRef) -> str:
        record = self.job_dirs.read(ref.job_id)
        if record is None:
            return f"{ref.job_id}: no job directory to remove"
        if record.live():
            return f"{ref.job_id}: still running; not removed"
        self.job_dirs.remove(ref.job_id)
        return f"{ref.job_id}: job directory removed"

    # ---- retry
    def mark_for_retry(self, ref: ActionRunRef) -> str | None:
        """Mark a run that failed INTERNAL_ERROR so the next run of its action in its workspace resumes its
        job directory; why not, or None. Marking twice is marking once."""
        record = self.job_dirs.read(ref.job_id)
        if record is None:
            return (
                f"{ref.job_id} ({ref.action}) has no job directory here: it ended {ref.status}, and only a run that "
                "failed with INTERNAL_ERROR keeps one (for any other, submit the request again)"
            )
        if problem := self.job_dirs.retry_problem(record):
            return problem
        self.job_dirs.update(ref.job_id, retry_requested=True)
        return None

    def unmark_retry(self, ref: ActionRunRef) -> None:
        self.job_dirs.update(ref.job_id, retry_requested=False)

    # ---- logs
    def log_of(self, ref: ActionRunRef) -> tuple[Path | None, str]:
        """(the log file, '') or (None, why there is none): the run's own while it has a directory,
        else the workspace's metadata/<action>.log if that is still this run's."""
        live_log = self.job_dirs.log_file(ref.job_id)
        if live_log.is_file():
            return live_log, ""
        workspace = Workspace.open(self.workspaces_dir, ref.workspace)
        if workspace.read_manifest()["actions"].get(ref.action, {}).get("job_id") != ref.job_id:
            return None, f"the log of {ref.job_id} was replaced by a later run of {ref.action}"
        log = workspace.log_path(ref.action)
        return (log, "") if log.is_file() else (None, f"{ref.job_id} ({ref.action}) has written no log")

    def follow(self, ref: ActionRunRef, write: Callable[[bytes], None], poll: float = 0.2) -> None:
        """Write the log, then what is added to it while the action runs; returns when it has ended.
        When an ordinary end removes the run's directory, the workspace's copy (the same text, then
        the orchestrator's trailer) has been written first: reading goes on there at the same offset."""
        offset = 0
        while True:
            record = self.job_dirs.read(ref.job_id)
            running = record is not None and record.live()
            path, _ = self.log_of(ref)
            if path is not None:
                with open(path, "rb") as log:
                    log.seek(offset)
                    while chunk := log.read(1 << 16):
                        write(chunk)
                        offset += len(chunk)
            if not running:
                return
            time.sleep(poll)


def _status(record: JobRecord) -> str:
    if record.finished:
        return record.status_code or "finished"
    return "running" if record.live() else "lost"
