"""A site's action runs on disk, one directory each, so an operator can find, follow, kill and retry
them from another process (`orchestrator site ...`). Layout of `<root>/<job id>/`:

    record.json   what runs (action, workspace, request, runtime job, operation, Dagster run), where
                  (host, engine pid, action pid), its state, status code, times and resources used
    job/          the job directory: the study's code and its needs' outputs, the action's cwd
    action.log    its output as it is written (the workspace's metadata/<action>.log gets it at the end)
    kill          left by `orchestrator site kill`: the action ends KILLED_BY_ADMIN

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

from orchestrator.pipeline.status import StatusCode

RECORD, JOB_DIR, LOG, KILL = "record.json", "job", "action.log", "kill"
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

    @property
    def finished(self) -> bool:
        return self.state == "finished"

    def live(self) -> bool:
        """Running, by a process that is still there (a site killed with SIGKILL leaves records that say
        running; they are lost, not live)."""
        return not self.finished and self.host == socket.gethostname() and _alive(self.engine_pid)

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


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
