"""The site's limit on database actions running at once (job-runner's MAX_DB_WORKERS) as a Dagster
concurrency pool, `database`: every run's database actions take and give back its slots, and the
Dagster UI (Deployment > Concurrency) shows which runs hold them and which wait.
"""

from __future__ import annotations

import fcntl
import logging
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
    its run monitoring frees what a dead run held (`free_slots_after_run_end_seconds`).

    Neither method blocks on another run or raises: a busy lock or an unreachable storage means "no slot
    yet" (asked again at the engine's next turn), and a slot that cannot be given back is freed by run
    monitoring after the run's end; both are said in the run's log."""

    ASK_EVERY_SECONDS = 1.0  # a waiting action asks the instance's storage at most this often

    def __init__(self, instance: dg.DagsterInstance, run_id: str, step_key: str, slots: int, log=None) -> None:
        self.instance, self.run_id, self.step_key = instance, run_id, step_key
        self.storage = instance.event_log_storage
        self.log = log or logging.getLogger(__name__)
        self.asked_at: dict[str, float] = {}
        self._set_pool_limit(slots)

    def _set_pool_limit(self, slots: int) -> None:
        # The site's setting is the one place the limit is kept; a change made in the Dagster UI
        # lasts until the next run of the site's pipeline starts. Under the lock: two runs setting it
        # at once on SQLite would each add the missing slots.
        if self.storage.get_concurrency_info(POOL).slot_count != slots:
            with _claim_lock(self.instance, wait=True):
                if self.storage.get_concurrency_info(POOL).slot_count != slots:
                    self.storage.set_concurrency_slots(POOL, slots)

    def _claim_key(self, action: str) -> str:
        return f"{self.step_key}[{action}]"

    def take(self, action: str) -> bool:
        now = time.monotonic()
        if now - self.asked_at.get(action, float("-inf")) < self.ASK_EVERY_SECONDS:
            return False
        self.asked_at[action] = now
        try:
            with _claim_lock(self.instance, wait=False) as locked:
                claimed = locked and self._claim(self._claim_key(action))
        except Exception as exc:  # the storage is Dagster's database: a blip must not end every action of the run
            self.log.warning(
                f"could not ask for a database slot for {action} ({type(exc).__name__}: {exc}); asking again"
            )
            return False
        if claimed:
            self.asked_at.pop(action, None)
        return claimed

    def _claim(self, key: str) -> bool:
        status = self.storage.claim_concurrency_slot(POOL, self.run_id, key)
        if not status.is_claimed and not status.is_assigned and self.storage.has_unassigned_slots(POOL):
            # A free that assigned no waiter (one racing a claim, or run monitoring's) leaves a slot idle
            # while we wait: Dagster assigns waiters only when a slot is freed, so hand it out here.
            self.storage.assign_pending_steps([POOL])
            status = self.storage.claim_concurrency_slot(POOL, self.run_id, key)
        return status.is_claimed

    def give_back(self, action: str) -> None:
        try:
            with _claim_lock(self.instance, wait=True):  # never between another run's check and its queueing
                self.storage.free_concurrency_slot_for_step(self.run_id, self._claim_key(action))
        except Exception as exc:
            self.log.warning(
                f"could not give back the database slot of {action} ({type(exc).__name__}: {exc}); "
                "Dagster's run monitoring frees it after the run ends"
            )


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
    return DagsterDatabaseSlots(context.instance, context.run_id, step_key, max_db_workers, context.log)


@contextmanager
def _claim_lock(instance: dg.DagsterInstance, wait: bool) -> Iterator[bool]:
    """Dagster assigns and claims a pool's slots in separate statements without a lock held between them
    (on SQLite, without one at all), so two runs asking at once can both be given the last slot. Taking
    our claims and frees one at a time closes that: with PostgreSQL storage under an advisory lock of that
    database (runs may be on many machines), with SQLite storage under a file lock beside it (its runs
    share the machine). Yields whether the lock is held: without `wait`, False when another run holds it."""
    url = getattr(instance.event_log_storage, "postgres_url", None)
    if url:
        engine = _engines.get(url) or _engines.setdefault(url, sa.create_engine(url, pool_size=1, pool_pre_ping=True))
        with engine.begin() as conn:
            how = "pg_advisory_xact_lock" if wait else "pg_try_advisory_xact_lock"
            locked = conn.execute(sa.text(f"SELECT {how}(:key)"), {"key": _ADVISORY_LOCK_KEY}).scalar()
            yield locked is not False  # pg_advisory_xact_lock returns void (None) once it holds the lock
        return
    with open(Path(instance.root_directory) / _LOCK_FILE, "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


_engines: dict[str, sa.Engine] = {}
