"""Jobs and their operations: creation, atomic claims, leases, reports, release and cancel.

Every state change is one conditional UPDATE (`... WHERE status = 'open'`, `... WHERE done =
false`) checked by its row count, so concurrent callers on SQLite or PostgreSQL cannot both win:
PostgreSQL re-checks the condition after the row lock, SQLite serialises writers outright.

    job:        open --claim--> claimed --report--> succeeded | failed | cancelled
                open <--release / lease expiry-- claimed      (failed after max_attempts)
                open --cancel--> cancelled;  claimed --cancel--> cancel_requested on the operation
                failed | cancelled --retry--> open   (attempts from 0; its operations stay as history)

A job with a `site_id` is claimed by that site only; a job's `share` (a workspace) gives it its place in a
claim: the shares with the fewest jobs claimed first, job-runner's fair order. Cancelling parts of a job (a pipeline's actions)
leaves its status alone: the names join `cancelled_parts`, which the holder reads in its heartbeats.
"""

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import String, bindparam, case, func, insert, or_, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError

from orchestrator.runtime import schema as s
from orchestrator.runtime import security
from orchestrator.runtime.errors import Conflict, InvalidArgument, PermissionDenied, not_found
from orchestrator.runtime.models import (
    Job,
    JobCreate,
    LeaseState,
    Operation,
    OperationPatch,
    Page,
    Principal,
    SiteLoad,
    job_id_for,
)
from orchestrator.runtime.schema import utcnow
from orchestrator.runtime.store.auth import require_site
from orchestrator.runtime.store.base import StoreBase, found
from orchestrator.runtime.store.catalog import _require_ids
from orchestrator.runtime.store.rows import read_model

log = logging.getLogger(__name__)

LEASE_EXPIRED, RELEASED, CANCELLED = "LEASE_EXPIRED", "RELEASED", "CANCELLED"
_CLOSE_MESSAGES = {
    LEASE_EXPIRED: "The site stopped renewing the lease; the job was returned to the queue.",
    RELEASED: "The job was released; it was returned to the queue.",
}


def _definition(job: Job | JobCreate) -> tuple:
    # Inputs are a set: the id is derived from them sorted, so [a, b] and [b, a] are the same job.
    return job.workflow_id, sorted(job.inputs), job.config, job.max_attempts, job.site_id


def _job(row) -> Job | None:
    return read_model(Job, dict(row._mapping), "job")


def _operation(row) -> Operation | None:
    return read_model(Operation, dict(row._mapping), "operation")


# Called inside the transaction that changed a job or its operation, with that connection, the job and its
# current operation (None before the first claim): whatever the listener writes commits with the change or not at
# all. Layers above the runtime (the jobs site) keep their own views and outboxes this way; the runtime knows
# only this signature.
JobListener = Callable[[object, Job, Operation | None], None]


# One round trip for what decides whether to claim at all: a replayed request (a NULL token matches
# nothing), the capabilities, a paused site. Built once: building it per request cost more than running it.
_CLAIM_FACTS = select(
    select(s.operations.c.id)
    .where(s.operations.c.site_id == bindparam("site_id"), s.operations.c.claim_token == bindparam("claim_token"))
    .limit(1)
    .exists(),
    select(s.workflows.c.capability_ids).where(s.workflows.c.id == bindparam("workflow_id")).scalar_subquery(),
    select(s.sites.c.capability_ids).where(s.sites.c.id == bindparam("site_id")).scalar_subquery(),
    select(s.sites.c.paused).where(s.sites.c.id == bindparam("site_id")).scalar_subquery(),
    # Open jobs with a share: the claim takes the fair path (the same condition as ix_jobs_open_share's).
    select(s.jobs.c.id)
    .where(s.jobs.c.workflow_id == bindparam("workflow_id"), text("jobs.status = 'open' AND jobs.share IS NOT NULL"))
    .limit(1)
    .exists(),
)

# claimNext on PostgreSQL: lock, claim and open the operations in one statement, one round trip
# instead of one per step; the operation ids are made here and matched to the jobs in the order picked.
# The UPDATE does not test status again: the rows are ours (locked, and FOR UPDATE re-checked them),
# and a second condition on status let the planner scan every open job instead of the id index.
# `{locked}` picks the jobs: the oldest open ones, or (fair shares) those named, in the order named.
_CLAIM_PG = """
    WITH locked AS ({locked}), picked AS (
        SELECT id, row_number() OVER (ORDER BY rank) AS n FROM locked
    ), claimed AS (
        UPDATE jobs SET status = 'claimed', operation_id = (:op_ids)[picked.n], updated_at = :now
        FROM picked WHERE jobs.id = picked.id
        RETURNING jobs.id AS job_id, jobs.operation_id AS id, jobs.share, picked.n
    )
    INSERT INTO operations (id, job_id, site_id, done, metadata, lease_expires_at, lease_seconds,
                            cancel_requested, claim_token, created_at, updated_at, share)
    SELECT id, job_id, :site_id, false, '{{}}', :lease_end, :lease_seconds, false, :claim_token, :now, :now, share
    FROM claimed ORDER BY n
    RETURNING """ + ", ".join(
    c.name for c in s.operations.c
)  # by name: a migration may have added columns in any order
_OLDEST_OPEN_PG = """
        SELECT id, seq AS rank FROM jobs
        WHERE status = 'open' AND workflow_id = :workflow_id AND (site_id IS NULL OR site_id = :site_id)
        ORDER BY seq LIMIT :max_jobs FOR UPDATE SKIP LOCKED"""
_THESE_OPEN_PG = """
        SELECT id, array_position(:job_ids, id) AS rank FROM jobs
        WHERE id = ANY(:job_ids) AND status = 'open'
        ORDER BY rank LIMIT :max_jobs FOR UPDATE SKIP LOCKED"""


def _claim_statement(locked: str):
    return (
        text(_CLAIM_PG.format(locked=locked))
        .bindparams(
            bindparam("op_ids", type_=ARRAY(String)),
            bindparam("now", type_=s.UTCDateTime),
            bindparam("lease_end", type_=s.UTCDateTime),
        )
        .columns(*s.operations.c)
    )


_CLAIM_OLDEST_PG = _claim_statement(_OLDEST_OPEN_PG)
_CLAIM_THESE_PG = _claim_statement(_THESE_OPEN_PG).bindparams(bindparam("job_ids", type_=ARRAY(String)))

# Fair shares, as job-runner orders its pending jobs: a claim takes first the open jobs of the shares
# with the fewest jobs claimed, oldest first within a share; jobs without a share are one share. PostgreSQL
# names spare candidates, as some may be locked by a concurrent claim (skipped, never claimed twice).
_SPARE_CANDIDATES = 4


def _fair_order(conn, workflow_id: str, site_id: str, wanted: int) -> list[str]:
    """Up to `wanted` ids of open jobs `site_id` may claim, fairest first. Reads each share's `wanted`
    oldest open jobs (one window over the workflow's open jobs) and its count of claimed jobs."""
    jobs = s.jobs.c
    claimed = dict(
        conn.execute(
            select(jobs.share, func.count())
            .where(jobs.status == "claimed", jobs.workflow_id == workflow_id)
            .group_by(jobs.share)
        ).all()
    )
    place = func.row_number().over(partition_by=jobs.share, order_by=jobs.seq).label("place")
    heads = (
        select(jobs.id, jobs.share, jobs.seq, place)
        .where(
            jobs.status == "open", jobs.workflow_id == workflow_id, or_(jobs.site_id.is_(None), jobs.site_id == site_id)
        )
        .subquery()
    )
    rows = conn.execute(select(heads).where(heads.c.place <= wanted)).all()
    # The n-th open job of a share with k claimed is the (k + n)-th of that share to run: round robin.
    rows.sort(key=lambda row: (claimed.get(row.share, 0) + row.place, row.seq))
    return [row.id for row in rows[:wanted]]


def _claim_in_one_statement(conn, workflow_id, site_id, max_jobs, lease_seconds, lease_end, claim_token, now, fair):
    params = {
        "workflow_id": workflow_id,
        "site_id": site_id,
        "max_jobs": max_jobs,
        "op_ids": [security.new_id("op") for _ in range(max_jobs)],
        "now": now,
        "lease_end": lease_end,
        "lease_seconds": lease_seconds,
        "claim_token": claim_token,
    }
    if fair:
        job_ids = _fair_order(conn, workflow_id, site_id, max_jobs + _SPARE_CANDIDATES)
        if not job_ids:
            return []
        rows = conn.execute(_CLAIM_THESE_PG, params | {"job_ids": job_ids}).all()
    else:
        rows = conn.execute(_CLAIM_OLDEST_PG, params).all()
    return sorted(rows, key=lambda row: row.seq)  # RETURNING promises no order; seq is the insert order


def _claim_step_by_step(conn, workflow_id, site_id, max_jobs, lease_seconds, lease_end, claim_token, now, fair):
    """SQLite has no data-modifying WITH; its writers are serialised (BEGIN IMMEDIATE), so no lock is needed."""
    jobs = s.jobs.c
    if fair:
        job_ids = _fair_order(conn, workflow_id, site_id, max_jobs)
    else:
        job_ids = (
            conn.execute(
                select(jobs.id)
                .where(
                    jobs.status == "open",
                    jobs.workflow_id == workflow_id,
                    or_(jobs.site_id.is_(None), jobs.site_id == site_id),
                )
                .order_by(jobs.seq)
                .limit(max_jobs)
            )
            .scalars()
            .all()
        )
    rows = []
    for job_id in job_ids:
        op_id = security.new_id("op")
        won = conn.execute(
            update(s.jobs)
            .where(jobs.id == job_id, jobs.status == "open")
            .values(status="claimed", operation_id=op_id, updated_at=now)
            .returning(jobs.share)
        ).first()
        if won is not None:  # always, as this writer is alone; checked all the same
            rows.append(
                {
                    "id": op_id,
                    "job_id": job_id,
                    "site_id": site_id,
                    "done": False,
                    "metadata": {},
                    "lease_expires_at": lease_end,
                    "lease_seconds": lease_seconds,
                    "cancel_requested": False,
                    "claim_token": claim_token,
                    "created_at": now,
                    "updated_at": now,
                    "share": won.share,
                }
            )
    if not rows:
        return []
    return conn.execute(insert(s.operations).returning(s.operations, sort_by_parameter_order=True), rows).all()


def _said_after_commit(operations: list[Operation], new: bool, site: Principal) -> list[Operation]:
    for op in operations if new else ():
        log.info("job %s claimed by site %s: operation %s", op.job_id, site.id, op.id)
    return operations


class JobStore(StoreBase):
    def __init__(self, settings):
        super().__init__(settings)
        self._job_listeners: list[tuple[str, JobListener]] = []

    def add_job_listener(self, id_prefix: str, listener: JobListener) -> None:
        """Call `listener` on every change of a job whose id starts with `id_prefix` (see JobListener)."""
        self._job_listeners.append((id_prefix, listener))

    def _job_changed(self, conn, job_id: str) -> None:
        listeners = [listener for prefix, listener in self._job_listeners if job_id.startswith(prefix)]
        if not listeners:
            return
        job = _job(conn.execute(select(s.jobs).where(s.jobs.c.id == job_id)).first())
        if job is None:
            return
        op = None
        if job.operation_id:
            op = _operation(conn.execute(select(s.operations).where(s.operations.c.id == job.operation_id)).first())
        for listener in listeners:
            listener(conn, job, op)

    # ---- jobs
    def create_job(self, spec: JobCreate, by: Principal) -> tuple[Job, bool]:
        """Create the job, or return the identical existing one; (job, created)."""
        job_id = spec.id or (job_id_for(spec.workflow_id, spec.inputs) if spec.inputs else security.new_id("job"))
        now = utcnow()
        wanted = {
            "workflow_id": spec.workflow_id,
            "inputs": spec.inputs,
            "config": spec.config,
            "max_attempts": spec.max_attempts,
            "site_id": spec.site_id,
            "share": spec.share,
        }
        created = False
        try:
            with self.write() as conn:
                _require_ids(conn, s.workflows, [spec.workflow_id], "UNKNOWN_WORKFLOW", "workflow")
                if spec.inputs:
                    _require_ids(conn, s.objects, spec.inputs, "UNKNOWN_OBJECT", "object")
                if spec.site_id is not None:
                    _require_ids(conn, s.sites, [spec.site_id], "UNKNOWN_SITE", "site")
                existing = conn.execute(select(s.jobs).where(s.jobs.c.id == job_id)).first()
                if existing is None:
                    conn.execute(
                        insert(s.jobs).values(
                            id=job_id,
                            **wanted,
                            status="open",
                            attempts=0,
                            created_by=f"{by.kind}:{by.id}",
                            created_at=now,
                            updated_at=now,
                        )
                    )
                    created = True
        except IntegrityError:  # a concurrent create of the same id won the insert
            pass
        job = self.get_job(job_id)
        if not created and _definition(job) != _definition(spec):
            raise Conflict(
                "ALREADY_EXISTS", f"Job {job_id!r} already exists with a different definition.", {"id": job_id}
            )
        return job, created

    def get_job(self, job_id: str) -> Job:
        with self.read() as conn:
            row = conn.execute(select(s.jobs).where(s.jobs.c.id == job_id)).first()
        if row is None:
            raise not_found("job", job_id)
        return found(_job(row), "job", job_id)

    def list_jobs(
        self,
        after_seq=0,
        limit=100,
        status: str | None = None,
        workflow_id: str | None = None,
        before_seq: int | None = None,
    ) -> Page[Job]:
        where = [c == v for c, v in ((s.jobs.c.status, status), (s.jobs.c.workflow_id, workflow_id)) if v is not None]
        return self.page(s.jobs, _job, after_seq, limit, *where, before_seq=before_seq)

    def claim_job(self, job_id: str, site: Principal, lease_seconds: int | None = None) -> Operation:
        now, lease_seconds = utcnow(), lease_seconds or self.settings.lease_seconds
        with self.write() as conn:
            row = conn.execute(
                select(s.jobs.c.status, s.jobs.c.operation_id, s.jobs.c.site_id, s.workflows.c.capability_ids)
                .join(s.workflows, s.workflows.c.id == s.jobs.c.workflow_id)
                .where(s.jobs.c.id == job_id)
            ).first()
            if row is None:
                raise not_found("job", job_id)
            _require_job_site(job_id, row.site_id, site.id)
            site_row = conn.execute(select(s.sites.c.capability_ids, s.sites.c.paused).where(s.sites.c.id == site.id))
            site_caps, paused = site_row.first() or (None, False)
            _require_capabilities(site.id, row.capability_ids, site_caps)
            _require_not_paused(site.id, paused)
            if row.status == "claimed":
                self._expire_if_due(conn, row.operation_id, now)  # a dead site's lease must not block a new claim
            op_id = security.new_id("op")
            won = conn.execute(
                update(s.jobs)
                .where(s.jobs.c.id == job_id, s.jobs.c.status == "open")
                .values(status="claimed", operation_id=op_id, updated_at=now)
                .returning(s.jobs.c.share)
            ).first()
            if won is not None:
                conn.execute(
                    insert(s.operations).values(
                        id=op_id,
                        job_id=job_id,
                        site_id=site.id,
                        done=False,
                        metadata={},
                        lease_expires_at=self._lease_end(now, lease_seconds),
                        lease_seconds=lease_seconds,
                        cancel_requested=False,
                        created_at=now,
                        updated_at=now,
                        share=won.share,
                    )
                )
        if won is None:
            job = self.get_job(job_id)
            details = {"id": job_id}
            if job.status == "claimed" and job.operation_id:
                holder = self.get_operation(job.operation_id)
                if holder.site_id == site.id and not holder.done:
                    # The caller already holds it: most likely its own claim succeeded and the reply was lost, so
                    # the client retried. Naming the operation lets the site run it instead of stranding it.
                    details["your_operation_id"] = holder.id
            raise Conflict("JOB_NOT_OPEN", f"Job {job_id!r} is not open (it is {job.status}).", details)
        log.info("job %s claimed by site %s: operation %s", job_id, site.id, op_id)  # committed: said after
        return self.get_operation(op_id)

    def claim_next(
        self,
        workflow_id: str,
        site: Principal,
        max_jobs: int = 1,
        lease_seconds: int | None = None,
        claim_token: str | None = None,
    ) -> list[Operation]:
        """Claim up to `max_jobs` open jobs of `workflow_id` that `site` may claim (any site's, or its
        own), oldest first; [] when none is open. While the workflow has open jobs with a share, the
        jobs of the shares with the fewest claimed come first (`_fair_order`).

        One request per claim, with no lost races: PostgreSQL skips the rows other claimers hold
        locked (FOR UPDATE SKIP LOCKED); SQLite serialises writers (BEGIN IMMEDIATE). Both walk
        ix_jobs_status_workflow_seq in seq order and check site_id on each open job they meet, so a
        claim also steps over the older open jobs reserved for other sites (a filter, not a history scan:
        finished jobs are outside the range)."""
        with self.write() as conn:
            operations, new = self._claim_next(conn, workflow_id, site, max_jobs, lease_seconds, claim_token)
        return _said_after_commit(operations, new, site)

    def claim_next_with_token(
        self, token: str, workflow_id: str, max_jobs: int, lease_seconds: int | None, claim_token: str | None
    ) -> list[Operation]:
        """claim_next for the caller's bearer token, checked in the claim's own transaction: the sites' hot
        path then takes one pooled connection (and one liveness ping) a request instead of two."""
        with self.write() as conn:
            site = require_site(self.authenticate(token, conn))
            operations, new = self._claim_next(conn, workflow_id, site, max_jobs, lease_seconds, claim_token)
        return _said_after_commit(operations, new, site)

    def _claim_next(self, conn, workflow_id, site, max_jobs, lease_seconds, claim_token):
        """(the operations, whether this call made them) -- a replayed claim_token returns the earlier ones."""
        now = utcnow()
        facts = conn.execute(
            _CLAIM_FACTS, {"site_id": site.id, "workflow_id": workflow_id, "claim_token": claim_token}
        ).one()
        if facts[0]:
            ops = s.operations.c
            replay = conn.execute(
                select(s.operations).where(ops.site_id == site.id, ops.claim_token == claim_token).order_by(ops.seq)
            ).all()
            return [op for op in map(_operation, replay) if op is not None], False
        if facts[1] is None:
            raise not_found("workflow", workflow_id)
        _require_capabilities(site.id, facts[1], facts[2])
        _require_not_paused(site.id, facts[3])
        lease_seconds = lease_seconds or self.settings.lease_seconds
        claim = _claim_in_one_statement if conn.dialect.name == "postgresql" else _claim_step_by_step
        lease_end = self._lease_end(now, lease_seconds)
        rows = claim(conn, workflow_id, site.id, max_jobs, lease_seconds, lease_end, claim_token, now, facts[4])
        return [op for op in map(_operation, rows) if op is not None], True

    def release_job(self, job_id: str, by: Principal, operation_id: str | None = None) -> Job:
        """Return a claimed job to the queue; with `operation_id`, only if that operation still holds it
        (a site releasing after a crash must not close a newer claim of the same job)."""
        job = self.get_job(job_id)
        if job.status != "claimed":
            raise Conflict("INVALID_TRANSITION", f"Only a claimed job can be released; {job_id!r} is {job.status}.")
        if operation_id is not None and job.operation_id != operation_id:
            raise Conflict(
                "OPERATION_MISMATCH",
                f"Job {job_id!r} is no longer held by operation {operation_id!r}.",
                {"operation_id": job.operation_id},
            )
        with self.write() as conn:
            op = conn.execute(select(s.operations).where(s.operations.c.id == job.operation_id)).first()
            if not by.is_admin and not (by.kind == "site" and op.site_id == by.id):
                raise PermissionDenied("NOT_OWNER", "Only the site holding the job, or an admin, may release it.")
            closed = self._close(conn, op, RELEASED, utcnow())
        if not closed:
            raise Conflict("INVALID_TRANSITION", f"Job {job_id!r} changed state while being released; check it again.")
        log.info("job %s released by %s %s: operation %s closed", job_id, by.kind, by.id, op.id)
        return self.get_job(job_id)

    def cancel_job(self, job_id: str, by: Principal, parts: list[str] | None = None) -> Job:
        """Cancel an open job at once; ask the site holding a claimed one to stop (it reports `cancelled`).
        With `parts`, cancel only those parts (see `cancel_parts`).

        People (users) may cancel any job; a site only one it holds: sites share the queue, and one
        site must not be able to empty it or stop another's work."""
        if parts is not None:
            return self.cancel_parts(job_id, by, parts)
        for _ in range(3):  # the job may change state between our read and our conditional update
            job = self.get_job(job_id)
            if job.status == "cancelled":
                return job
            if by.kind == "site" and not self._held_by(job, by.id):
                raise PermissionDenied(
                    "NOT_OWNER", f"A site may cancel only a job it holds; {job_id!r} is not held by {by.id!r}."
                )
            if job.status not in ("open", "claimed"):
                raise Conflict("INVALID_TRANSITION", f"Job {job_id!r} already {job.status}; it cannot be cancelled.")
            with self.write() as conn:
                if job.status == "open":
                    hit = conn.execute(
                        update(s.jobs)
                        .where(s.jobs.c.id == job_id, s.jobs.c.status == "open")
                        .values(status="cancelled", updated_at=utcnow())
                    ).rowcount
                else:
                    hit = conn.execute(
                        update(s.operations)
                        .where(s.operations.c.id == job.operation_id, s.operations.c.done.is_(False))
                        .values(cancel_requested=True, updated_at=utcnow())
                    ).rowcount
                if hit:
                    self._job_changed(conn, job_id)
            if hit:
                return self.get_job(job_id)
        raise Conflict("CONCURRENT_UPDATE", f"Job {job_id!r} kept changing state; retry the cancel.")

    def cancel_parts(self, job_id: str, by: Principal, parts: list[str]) -> Job:
        """Add `parts` to an open or claimed job's `cancelled_parts` (a set that keeps the order names were
        first cancelled in); the job itself goes on, and its holder learns of them from its next heartbeat.
        The same permissions as cancelling the whole job."""
        jobs, ops = s.jobs.c, s.operations.c
        with self.write() as conn:
            # Locked (PostgreSQL; SQLite's writer is alone anyway): two concurrent cancels must both be kept.
            job = conn.execute(
                select(jobs.status, jobs.cancelled_parts, ops.site_id.label("holder"))
                .outerjoin(s.operations, ops.id == jobs.operation_id)
                .where(jobs.id == job_id)
                .with_for_update(of=s.jobs)
            ).first()
            if job is None:
                raise not_found("job", job_id)
            if by.kind == "site" and not (job.status == "claimed" and job.holder == by.id):
                raise PermissionDenied(
                    "NOT_OWNER", f"A site may cancel only a job it holds; {job_id!r} is not held by {by.id!r}."
                )
            if job.status not in ("open", "claimed"):
                raise Conflict(
                    "INVALID_TRANSITION",
                    f"Job {job_id!r} already {job.status}; its parts cannot be cancelled.",
                    {"id": job_id, "status": job.status},
                )
            current = job.cancelled_parts if isinstance(job.cancelled_parts, list) else []
            merged = list(dict.fromkeys([*current, *parts]))
            if merged != current:
                conn.execute(
                    update(s.jobs).where(jobs.id == job_id).values(cancelled_parts=merged, updated_at=utcnow())
                )
        return self.get_job(job_id)

    def retry_job(self, job_id: str, by: Principal | None = None) -> Job:
        """Open a failed or cancelled job again, with its attempts counted afresh. Its old operations
        stay (they are done, so a late report on one still gets 409); the next claim makes a new one.

        A person may retry any such job. A site only a failed job it ran last: its operator's `orchestrator
        site retry`, after an internal error at that site; never a job a person cancelled."""
        retryable = ("failed", "cancelled")
        if by is not None and by.kind == "site":
            job = self.get_job(job_id)
            last = self.get_operation(job.operation_id) if job.operation_id else None
            if last is None or last.site_id != by.id:
                raise PermissionDenied(
                    "NOT_OWNER", f"Site {by.id!r} did not run job {job_id!r} last; it may not retry it."
                )
            retryable = ("failed",)
        with self.write() as conn:
            hit = conn.execute(
                update(s.jobs)
                .where(s.jobs.c.id == job_id, s.jobs.c.status.in_(retryable))
                .values(status="open", attempts=0, updated_at=utcnow())
            ).rowcount
            if hit:
                self._job_changed(conn, job_id)
        job = self.get_job(job_id)
        if not hit:
            raise Conflict(
                "JOB_NOT_RETRYABLE",
                f"Job {job_id!r} is {job.status}; only a {' or '.join(retryable)} job can be retried.",
                {"id": job_id, "status": job.status},
            )
        return job

    def _held_by(self, job: Job, site_id: str) -> bool:
        return (
            job.status == "claimed"
            and job.operation_id is not None
            and self.get_operation(job.operation_id).site_id == site_id
        )

    # ---- operations
    def get_operation(self, op_id: str) -> Operation:
        with self.read() as conn:
            row = conn.execute(select(s.operations).where(s.operations.c.id == op_id)).first()
        if row is None:
            raise not_found("operation", op_id)
        return found(_operation(row), "operation", op_id)

    def list_operations(
        self, after_seq=0, limit=100, site_id=None, job_id=None, done: bool | None = None
    ) -> Page[Operation]:
        ops = s.operations.c
        where = [c == v for c, v in ((ops.site_id, site_id), (ops.job_id, job_id), (ops.done, done)) if v is not None]
        return self.page(s.operations, _operation, after_seq, limit, *where)

    def update_operation(self, op_id: str, site: Principal, patch: OperationPatch) -> Operation:
        final = _check_patch(patch)
        now = utcnow()
        with self.write() as conn:
            op = conn.execute(select(s.operations).where(s.operations.c.id == op_id).with_for_update()).first()
            if op is None:
                raise not_found("operation", op_id)
            if op.site_id != site.id:
                raise PermissionDenied("NOT_OWNER", f"Operation {op_id!r} belongs to another site.")
            expired = not op.done and self._expire_if_due(conn, op.id, now)
            if not op.done and not expired:
                self._apply(conn, op, patch, final, now)
        current = self.get_operation(op_id)
        if op.done or expired:
            _check_repeat(current, patch, final)
        elif final:
            outcome = (current.error or {}).get("code") or "result"
            log.info("job %s: operation %s reported done (%s) by site %s", current.job_id, op_id, outcome, site.id)
        else:
            log.debug("job %s: operation %s reported progress", current.job_id, op_id)
        return current

    def _apply(self, conn, op, patch: OperationPatch, final: bool, now: datetime) -> None:
        # A report from the holder renews its lease by the length it was claimed with (or the one it names now).
        lease_seconds = patch.lease_seconds or op.lease_seconds
        values = {
            "updated_at": now,
            "lease_expires_at": self._lease_end(now, lease_seconds),
            "lease_seconds": lease_seconds,
        }
        if patch.metadata:
            values["metadata"] = {**op.metadata, **patch.metadata}
        if final:
            error = patch.error.model_dump() if patch.error else None
            values.update(done=True, result=patch.result, error=error)
            status = "succeeded" if error is None else ("cancelled" if error["code"] == CANCELLED else "failed")
            conn.execute(
                update(s.jobs)
                .where(s.jobs.c.id == op.job_id, s.jobs.c.operation_id == op.id)
                .values(status=status, updated_at=now)
            )
        conn.execute(update(s.operations).where(s.operations.c.id == op.id).values(values))
        self._job_changed(conn, op.job_id)

    def heartbeat(
        self,
        site: Principal,
        op_ids: list[str],
        lease_seconds: int | None = None,
        site_status: SiteLoad | None = None,
    ) -> tuple[list[LeaseState], list[str]]:
        """Renew the leases of `site`'s live operations in one statement; report each one's state (with
        its job's cancelled parts). Every heartbeat, even for no operations, marks the site seen now,
        with its load if given."""
        now, ops = utcnow(), s.operations.c
        mine = [ops.id.in_(op_ids), ops.site_id == site.id]
        seen = {"last_seen_at": now, **({"status": site_status.model_dump()} if site_status else {})}
        with self.write() as conn:
            conn.execute(update(s.sites).where(s.sites.c.id == site.id).values(seen))
            if not op_ids:
                return [], []
            for op_id in conn.execute(
                select(ops.id).where(*mine, ops.done.is_(False), ops.lease_expires_at <= now)
            ).scalars():
                self._expire_if_due(conn, op_id, now)
            conn.execute(
                update(s.operations)
                .where(*mine, ops.done.is_(False))
                .values(
                    lease_expires_at=self._lease_end(now, lease_seconds),
                    **({"lease_seconds": lease_seconds} if lease_seconds else {}),
                    updated_at=now,
                )
            )
            rows = conn.execute(
                select(
                    ops.id, ops.done, ops.cancel_requested, ops.lease_expires_at, ops.error, s.jobs.c.cancelled_parts
                )
                .join(s.jobs, s.jobs.c.id == ops.job_id)
                .where(*mine)
            ).all()
        states = [state for row in rows if (state := read_model(LeaseState, dict(row._mapping), "operation"))]
        found = {state.id for state in states}
        return states, [op_id for op_id in op_ids if op_id not in found]

    def expire_leases(self, limit: int = 500) -> int:
        """Close operations whose lease ran out and return their jobs to the queue; how many were closed."""
        now, ops = utcnow(), s.operations.c
        with self.write() as conn:
            due = (
                conn.execute(select(ops.id).where(ops.done.is_(False), ops.lease_expires_at <= now).limit(limit))
                .scalars()
                .all()
            )
            expired = [op_id for op_id in due if self._expire_if_due(conn, op_id, now)]
        if expired:
            log.info("leases ran out: operations %s closed, their jobs back in the queue", ", ".join(expired))
        return len(expired)

    # ---- internals shared by release, expiry and cancel
    def _lease_end(self, now: datetime, lease_seconds: int | None) -> datetime:
        return now + timedelta(seconds=lease_seconds or self.settings.lease_seconds)

    def _expire_if_due(self, conn, op_id: str | None, now: datetime) -> bool:
        op = conn.execute(select(s.operations).where(s.operations.c.id == op_id)).first() if op_id else None
        return bool(op and not op.done and op.lease_expires_at <= now and self._close(conn, op, LEASE_EXPIRED, now))

    def _close(self, conn, op, code: str, now: datetime) -> bool:
        """Close a live operation with `code` and hand its job back (attempts + 1); False if it was already done.

        The conditions are re-checked by the UPDATE itself, not taken from `op` (read earlier): on
        PostgreSQL a concurrent heartbeat or cancel may commit in between, and the UPDATE sees it."""
        ops, jobs = s.operations.c, s.jobs.c
        error = {"code": code, "message": _CLOSE_MESSAGES[code], "details": {}}
        still_due = [ops.lease_expires_at <= now] if code == LEASE_EXPIRED else []  # a renewed lease stays
        closed = conn.execute(
            update(s.operations)
            .where(ops.id == op.id, ops.done.is_(False), *still_due)
            .values(done=True, error=error, updated_at=now)
            .returning(ops.cancel_requested)
        ).first()
        if closed:
            exhausted = case((jobs.attempts + 1 >= jobs.max_attempts, "failed"), else_="open")
            conn.execute(
                update(s.jobs)
                .where(jobs.id == op.job_id, jobs.operation_id == op.id, jobs.status == "claimed")
                .values(
                    status="cancelled" if closed.cancel_requested else exhausted,
                    attempts=jobs.attempts + 1,
                    updated_at=now,
                )
            )
            self._job_changed(conn, op.job_id)
        return closed is not None


def _require_job_site(job_id: str, job_site: str | None, site_id: str) -> None:
    if job_site is not None and job_site != site_id:
        raise PermissionDenied(
            "WRONG_SITE",
            f"Job {job_id!r} may be claimed only by site {job_site!r}, not {site_id!r}.",
            {"id": job_id, "site_id": job_site},
        )


def _require_capabilities(site_id: str, needed: list[str], offered: list[str] | None) -> None:
    missing = sorted(set(needed) - set(offered or []))
    if missing:
        raise PermissionDenied(
            "MISSING_CAPABILITY",
            f"Site {site_id!r} lacks capabilities {missing} this job's workflow needs.",
            {"missing": missing},
        )


def _require_not_paused(site_id: str, paused: bool | None) -> None:
    if paused:
        raise Conflict(
            "SITE_PAUSED",
            f"Site {site_id!r} is paused: it claims nothing new until `orchestrator site resume`.",
            {"site_id": site_id},
        )


def _check_patch(patch: OperationPatch) -> bool:
    """Validate the shape of a report; True when it is final (done: true)."""
    final = patch.done is True
    if final and (patch.result is None) == (patch.error is None):
        raise InvalidArgument("INVALID_REPORT", "A final report (done: true) needs exactly one of `result` or `error`.")
    if not final and (patch.result is not None or patch.error is not None):
        raise InvalidArgument("INVALID_REPORT", "`result` and `error` are only accepted with done: true.")
    return final


def _check_repeat(current: Operation, patch: OperationPatch, final: bool) -> None:
    """An operation is done once: the same final report again is fine, anything else is 409 (fencing)."""
    error = patch.error.model_dump() if patch.error else None
    if final and current.result == patch.result and current.error == error:
        return
    code = (current.error or {}).get("code")
    raise Conflict(
        "OPERATION_DONE",
        f"Operation {current.id!r} is already done"
        + (f" ({code}); it no longer holds the job." if code in _CLOSE_MESSAGES else "."),
        {"error": current.error},
    )
