"""The site's limit on database actions running at once (job-runner's MAX_DB_WORKERS) as a Dagster
concurrency pool, `database`: every run's database actions take and give back its slots, and the
Dagster UI (Deployment > Concurrency) shows which runs hold them and which wait.
"""

from __future__ import annotations

import fcntl
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import sqlalchemy as sa

POOL = "database"
# Each claim of a slot is taken under this lock; see _claim_lock.
_LOCK_FILE = ".database-slots.lock"
_ADVISORY_LOCK_KEY = zlib.crc32(b"orchestrator.database_slots")


class DagsterDatabaseSlots:
    """`DatabaseSlots` (orchestrator.pipeline.engine) on a Dagster instance's concurrency pool. Each action
    claims as the step `<step_key>[<action>]` of its run, so Dagster's queue keeps the order of asking and
    its run monitoring frees what a dead run held (`free_slots_after_run_end_seconds`)."""

    ASK_EVERY_SECONDS = 1.0  # a waiting action asks the instance's storage at most this often

    def __init__(self, instance: dg.DagsterInstance, run_id: str, step_key: str, slots: int) -> None:
        self.instance, self.run_id, self.step_key = instance, run_id, step_key
        self.storage = instance.event_log_storage
        self.asked_at: dict[str, float] = {}
        self._set_pool_limit(slots)

    def _set_pool_limit(self, slots: int) -> None:
        # The site's setting is the one place the limit is kept; a change made in the Dagster UI
        # lasts until the next run of the site's pipeline starts. Under the lock: two runs setting it
        # at once on SQLite would each add the missing slots.
        if self.storage.get_concurrency_info(POOL).slot_count != slots:
            with _claim_lock(self.instance):
                if self.storage.get_concurrency_info(POOL).slot_count != slots:
                    self.storage.set_concurrency_slots(POOL, slots)

    def _claim_key(self, action: str) -> str:
        return f"{self.step_key}[{action}]"

    def take(self, action: str) -> bool:
        now = time.monotonic()
        if now - self.asked_at.get(action, float("-inf")) < self.ASK_EVERY_SECONDS:
            return False
        self.asked_at[action] = now
        with _claim_lock(self.instance):
            status = self.storage.claim_concurrency_slot(POOL, self.run_id, self._claim_key(action))
        if status.is_claimed:
            self.asked_at.pop(action, None)
        return status.is_claimed

    def give_back(self, action: str) -> None:
        self.storage.free_concurrency_slot_for_step(self.run_id, self._claim_key(action))


def database_slots(context: dg.OpExecutionContext, max_db_workers: int) -> DagsterDatabaseSlots | None:
    """The slots for this op's database actions; None (no limit) if `max_db_workers` is 0, or if the
    instance keeps no pools (an in-memory instance, as in `execute_in_process`), said in the run's log."""
    if max_db_workers <= 0:
        return None
    if not context.instance.event_log_storage.supports_global_concurrency_limits:
        context.log.warning(
            f"this Dagster instance's storage keeps no concurrency pools: database actions are not limited "
            f"to {max_db_workers} at once (ORCHESTRATOR_MAX_DB_WORKERS)"
        )
        return None
    step_key = context.get_step_execution_context().step.key
    return DagsterDatabaseSlots(context.instance, context.run_id, step_key, max_db_workers)


@contextmanager
def _claim_lock(instance: dg.DagsterInstance) -> Iterator[None]:
    """Dagster assigns and claims a pool's slots in separate statements without a lock held between them
    (on SQLite, without one at all), so two runs asking at once can both be given the last slot. Taking
    our claims one at a time closes that: with PostgreSQL storage under an advisory lock of that
    database (runs may be on many machines), with SQLite storage under a file lock beside it (its runs
    share the machine)."""
    url = getattr(instance.event_log_storage, "postgres_url", None)
    if url:
        engine = _engines.get(url) or _engines.setdefault(url, sa.create_engine(url, poolclass=sa.pool.NullPool))
        with engine.begin() as conn:
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK_KEY})
            yield
        return
    with open(Path(instance.root_directory) / _LOCK_FILE, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


_engines: dict[str, sa.Engine] = {}
