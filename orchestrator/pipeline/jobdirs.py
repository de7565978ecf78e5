"""A site's action runs on disk, one directory each, so an operator can find, follow, kill and retry
them from another process (`orchestrator site ...`). Layout of `<root>/<job id>/`:

    record.json   what runs (action, workspace, request, runtime job, operation, Dagster run), where
                  (host, engine pid, action pid), its state, status code, times and resources used
    job/          the job directory: the study's code and its needs' outputs, the action's cwd
    action.log    its output as it is written (the workspace's metadata/<action>.log gets it at the end)
    kill          left by `orchestrator site kill`: the action ends KILLED_BY_ADMIN
    snapshot.json the job directory's files before the action first ran, so a retry collects what
                  either attempt made

A run that ends ordinarily is removed once its outcome is in the workspace. One killed by an
administrator or ended by an internal error stays, for debugging and `orchestrator site retry`,
until `orchestrator site kill --cleanup` removes it. Every record write is an atomic replace.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from orchestrator.pipeline.processes import pid_alive
from orchestrator.pipeline.status import StatusCode

RECORD, JOB_DIR, LOG, KILL, SNAPSHOT = "record.json", "job", "action.log", "kill", "snapshot.json"
RETRYABLE_CODE = StatusCode.INTERNAL_ERROR.value
KEPT_CODES = frozenset({StatusCode.KILLED_BY_ADMIN.value, StatusCode.INTERNAL_ERROR.value})


@dataclass(frozen=True)
class JobRecord:
    job_id: str
    action: str
    workspace: str
    state: str = "running"  # running | finished
    request_id: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)  # runtime job, operation, Dagster run
    host: str = field(default_factory=socket.gethostname)
    engine_pid: int = field(default_factory=os.getpid)
    pid: int | None = None  # of the action's process (its process group), once started
    started_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    status_code: str | None = None
    message: str = ""
    peak_memory_bytes: int | None = None
    cpu_seconds: float | None = None
    retries: int = 0
    retry_requested: bool = False  # `orchestrator site retry`: the next run of this action here resumes it

    @property
    def finished(self) -> bool:
        return self.state == "finished"

    def live(self) -> bool:
        """Running, by a process that is still there (a site killed with SIGKILL leaves records that say
        running; they are lost, not live)."""
        return not self.finished and self.host == socket.gethostname() and pid_alive(self.engine_pid)

    @property
    def kept(self) -> bool:
        return self.finished and self.status_code in KEPT_CODES


class JobDirs:
    def __init__(self, root: str | Path):
        self.root = Path(root).absolute()

    def path(self, job_id: str) -> Path:
        if not job_id or "/" in job_id or job_id in (".", ".."):
            raise ValueError(f"job id {job_id!r} is no directory name")
        return self.root / job_id

    def job_dir(self, job_id: str) -> Path:
        return self.path(job_id) / JOB_DIR

    def log_file(self, job_id: str) -> Path:
        return self.path(job_id) / LOG

    # ---- the record
    def start(self, record: JobRecord) -> Path:
        """A fresh directory for this run (an earlier one of the same job id is replaced: its run is over)."""
        base = self.path(record.job_id)
        shutil.rmtree(base, ignore_errors=True)
        base.mkdir(parents=True)
        self._write(record)
        return base

    def read(self, job_id: str) -> JobRecord | None:
        try:
            data = json.loads((self.path(job_id) / RECORD).read_text())
            return JobRecord(**{**data, "labels": data.get("labels") or {}})
        except (FileNotFoundError, NotADirectoryError, ValueError, TypeError):
            return None

    def update(self, job_id: str, **changes) -> JobRecord | None:
        record = self.read(job_id)
        if record is None:
            return None
        record = replace(record, **changes)
        self._write(record)
        return record

    def _write(self, record: JobRecord) -> None:
        base = self.path(record.job_id)
        handle, temporary = tempfile.mkstemp(dir=base, prefix=".record.", suffix=".tmp")
        with os.fdopen(handle, "w") as file:
            json.dump(asdict(record), file, indent=2, default=dict)
        os.replace(temporary, base / RECORD)

    def records(self) -> Iterator[JobRecord]:
        if not self.root.is_dir():
            return
        for entry in sorted(self.root.iterdir()):
            if entry.is_dir() and (record := self.read(entry.name)) is not None:
                yield record

    def unrecorded(self) -> list[Path]:
        """Directories here without a readable record: left by a crash between mkdir and the first write."""
        if not self.root.is_dir():
            return []
        return [entry for entry in sorted(self.root.iterdir()) if entry.is_dir() and self.read(entry.name) is None]

    # ---- ending a run
    def finish(self, job_id: str, status_code: str, message: str, **resources) -> None:
        """Record the outcome; remove the directory unless the outcome keeps it (KEPT_CODES)."""
        record = self.update(
            job_id, state="finished", finished_at=time.time(), status_code=status_code, message=message, **resources
        )
        if record is not None and not record.kept:
            self.remove(job_id)

    def remove(self, job_id: str) -> None:
        shutil.rmtree(self.path(job_id), ignore_errors=True)

    # ---- retrying from the job directory
    def save_snapshot(self, job_id: str, files: Mapping[str, tuple[int, int, int]]) -> None:
        (self.path(job_id) / SNAPSHOT).write_text(json.dumps(files))

    def load_snapshot(self, job_id: str) -> dict[str, tuple[int, int, int]] | None:
        try:
            return {
                path: tuple(facts) for path, facts in json.loads((self.path(job_id) / SNAPSHOT).read_text()).items()
            }
        except (FileNotFoundError, ValueError, AttributeError):
            return None

    def retry_problem(self, record: JobRecord) -> str | None:
        """Why this run cannot be resumed from its directory, or None."""
        if not record.finished:
            return f"{record.job_id} ({record.action}) has not ended"
        if record.status_code != RETRYABLE_CODE:
            return (
                f"{record.job_id} ({record.action}) ended {record.status_code}; only an action that failed with "
                f"{RETRYABLE_CODE} is retried from its job directory (for any other, submit the request again)"
            )
        if not self.job_dir(record.job_id).is_dir() or self.load_snapshot(record.job_id) is None:
            return (
                f"{record.job_id} ({record.action}) failed before its job directory was ready; "
                "there is nothing to resume (submit the request again)"
            )
        return None

    def take_retry(self, workspace: str, action: str, job_id: str) -> Path | None:
        """The directory of a run of `action` in `workspace` marked for retry, moved to `job_id` and recorded
        running again; None when there is none (the run starts afresh)."""
        for record in self.records():
            if record.retry_requested and (record.workspace, record.action) == (workspace, action):
                base = self.path(job_id)
                if record.job_id != job_id:  # a new plan's id for the action (the same request keeps its own)
                    shutil.rmtree(base, ignore_errors=True)
                    os.rename(self.path(record.job_id), base)
                (base / KILL).unlink(missing_ok=True)
                fresh = JobRecord(job_id, action, workspace, labels=record.labels, retries=record.retries + 1)
                self._write(replace(fresh, request_id=record.request_id))
                return base
        return None

    # ---- killing
    def kill_requested(self, job_id: str) -> bool:
        return (self.path(job_id) / KILL).exists()

    def request_kill(self, job_id: str) -> None:
        """Mark the run killed, then end its process group (the engine reads the mark: KILLED_BY_ADMIN)."""
        (self.path(job_id) / KILL).write_text(f"{time.time()}\n")
        record = self.read(job_id)
        if record and record.pid and self._is_ours(record):
            try:
                os.killpg(record.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def _is_ours(self, record: JobRecord) -> bool:
        """The pid is still this run's action (not a recycled pid): its working directory is the job dir."""
        if record.host != socket.gethostname():
            return False
        try:
            return Path(os.readlink(f"/proc/{record.pid}/cwd")) == self.job_dir(record.job_id).resolve()
        except OSError:
            return False

    def action_alive(self, record: JobRecord) -> bool:
        return bool(record.pid) and self._is_ours(record)
