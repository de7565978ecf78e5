"""What running an action can come to: a coarse `State` beside a fine `StatusCode` (job-runner's
split: code branches on the state, people read the code and message) and the `ActionResult` value
every later layer (workspace, engine, CLI, Dagster op) passes around.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType


class State(str, Enum):
    PENDING = "pending"
    RUNNING = "running"
    FAILED = "failed"
    SUCCEEDED = "succeeded"


class StatusCode(str, Enum):
    """job-runner's codes (value = name, as DESIGN.md writes them), plus two it folds into
    NONZERO_EXIT's message (a timeout and out of memory) that we name so code can branch on them."""

    # pending
    CREATED = "CREATED"
    WAITING_ON_DEPENDENCIES = "WAITING_ON_DEPENDENCIES"
    WAITING_ON_WORKERS = "WAITING_ON_WORKERS"
    WAITING_DB_MAINTENANCE = "WAITING_DB_MAINTENANCE"  # a database action held while its database is serviced
    WAITING_ON_DB_WORKERS = "WAITING_ON_DB_WORKERS"  # a database action waiting for one of the site's database slots
    # running
    EXECUTING = "EXECUTING"
    # failed
    DEPENDENCY_FAILED = "DEPENDENCY_FAILED"
    NONZERO_EXIT = "NONZERO_EXIT"
    UNMATCHED_PATTERNS = "UNMATCHED_PATTERNS"
    CANCELLED_BY_USER = "CANCELLED_BY_USER"
    KILLED_BY_ADMIN = "KILLED_BY_ADMIN"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    JOB_TIMEOUT = "JOB_TIMEOUT"
    OUT_OF_MEMORY = "OUT_OF_MEMORY"
    # succeeded
    SUCCEEDED = "SUCCEEDED"


STATE_OF: Mapping[StatusCode, State] = MappingProxyType(
    {
        StatusCode.CREATED: State.PENDING,
        StatusCode.WAITING_ON_DEPENDENCIES: State.PENDING,
        StatusCode.WAITING_ON_WORKERS: State.PENDING,
        StatusCode.WAITING_DB_MAINTENANCE: State.PENDING,
        StatusCode.WAITING_ON_DB_WORKERS: State.PENDING,
        StatusCode.EXECUTING: State.RUNNING,
        StatusCode.SUCCEEDED: State.SUCCEEDED,
        **{
            code: State.FAILED
            for code in (
                StatusCode.DEPENDENCY_FAILED,
                StatusCode.NONZERO_EXIT,
                StatusCode.UNMATCHED_PATTERNS,
                StatusCode.CANCELLED_BY_USER,
                StatusCode.KILLED_BY_ADMIN,
                StatusCode.INTERNAL_ERROR,
                StatusCode.JOB_TIMEOUT,
                StatusCode.OUT_OF_MEMORY,
            )
        },
    }
)


@dataclass(frozen=True)
class OutputFile:
    """One collected output: its workspace-relative path, privacy level and content facts."""

    path: str
    level: str
    size: int
    sha256: str
    withheld: str | None = None  # the Level 4 reason, if a moderately_sensitive file failed


@dataclass(frozen=True)
class ActionResult:
    action: str
    job_id: str
    status_code: StatusCode
    message: str
    started_at: float | None = None  # time.time() of the subprocess start
    finished_at: float | None = None
    exit_code: int | None = None
    outputs: tuple[OutputFile, ...] = ()
    log_path: str | None = None  # metadata/<action>.log in the workspace, when written
    log_tail: tuple[str, ...] = ()  # last lines of the action's own output
    peak_memory_bytes: int | None = None  # the action process's peak resident memory (its waited-for children's too)
    cpu_seconds: float | None = None  # user + system CPU time of the same
    details: Mapping[str, object] = field(default_factory=dict)

    @property
    def state(self) -> State:
        return STATE_OF[self.status_code]

    @property
    def ok(self) -> bool:
        return self.status_code is StatusCode.SUCCEEDED

    @property
    def withheld(self) -> tuple[OutputFile, ...]:
        return tuple(output for output in self.outputs if output.withheld)

    @property
    def duration(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at


def deterministic_id(seed: str) -> str:
    """job-runner's scheme: the same seed always gives the same 16-character id."""
    digest = hashlib.sha1(seed.encode("utf-8")).digest()
    return base64.b32encode(digest[:10]).decode("ascii").lower()


def random_id() -> str:
    return secrets.token_hex(5)
