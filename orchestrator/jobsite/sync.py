"""Keeps job requests in step with their runtime jobs. The runtime calls `on_job_change` inside the
transaction that changed the job or its operation, so a request's jobs, its status and the emails
about them commit together with the change they describe, or not at all.

The site reports each action's state in the operation's metadata (`actions`: {name: {state,
decision, status_code, status_message, started_at, finished_at}}); actions the planner reused are
not jobs of the request (nothing runs for them).
"""

from sqlalchemy import select, update

from orchestrator.jobsite import schema as t
from orchestrator.jobsite.notify import queue_job_email, queue_request_email
from orchestrator.jobsite.store.base import insert_ignoring_conflicts
from orchestrator.runtime.models import Job, Operation
from orchestrator.runtime.schema import utcnow

FINISHED = ("succeeded", "failed")
NOT_A_JOB = ("reuse",)
_PENDING_CODES = {"run": "CREATED", "wait": "WAITING_ON_DEPENDENCIES", "cancel": "CANCELLED_BY_USER"}


def on_job_change(conn, job: Job, op: Operation | None, public_url: str = "") -> None:
    request = conn.execute(select(t.job_requests).where(t.job_requests.c.job_id == job.id)).first()
    if request is None:
        return
    now = utcnow()
    # A job back in the queue (its site's lease ran out, or it was retried) still names its last operation,
    # whose states are history: what was running there will run again.
    reported = {} if job.status == "open" else _reported_actions(op)
    if job.status == "open":
        conn.execute(
            update(t.request_jobs)
            .where(t.request_jobs.c.job_request_id == request.id, t.request_jobs.c.state == "running")
            .values(state="pending", status_code="CREATED", status_message="its run stopped; waiting to run again")
        )
    before = {
        row.action: row
        for row in conn.execute(select(t.request_jobs).where(t.request_jobs.c.job_request_id == request.id)).all()
    }
    jobs = {}
    # The site numbers its plan (`order`): JSONB keeps no key order, and rows are listed in insertion order.
    for action, state in sorted(reported.items(), key=_plan_position):
        values = _job_values(state)
        if values is None:
            continue
        jobs[action] = values
        old = before.get(action)
        if old is None:
            insert_ignoring_conflicts(
                conn,
                t.request_jobs,
                {"job_request_id": request.id, "action": action, **values, "updated_at": now},
                "job_request_id",
                "action",
            )
        elif any(getattr(old, key) != value for key, value in values.items()):
            conn.execute(
                update(t.request_jobs)
                .where(t.request_jobs.c.job_request_id == request.id, t.request_jobs.c.action == action)
                .values(**values, updated_at=now)
            )
        if request.will_notify and values["state"] in FINISHED and (old is None or old.state not in FINISHED):
            queue_job_email(conn, request, action, values, public_url)
    # A report may name only some actions (the site sends them all, but nothing requires it): the status
    # is of every job the request has.
    every_job = {
        row.action: {key: getattr(row, key) for key in ("state", "decision", "status_code")} for row in before.values()
    }
    status, message = request_status(job, op, {**every_job, **jobs})
    if (status, message) != (request.status, request.status_message):
        conn.execute(
            update(t.job_requests)
            .where(t.job_requests.c.id == request.id)
            .values(status=status, status_message=message, updated_at=now)
        )
        # A request that ends without any job of its own ending (refused at the site, cancelled before it ran)
        # still tells its requester.
        ended_alone = status in ("failed", "cancelled", "nothing_to_do") and not any(
            v["state"] in FINISHED and (before.get(a) is None or before[a].state not in FINISHED)
            for a, v in jobs.items()
        )
        if request.will_notify and ended_alone and request.status != status:
            queue_request_email(conn, request, status, message, public_url)


def _reported_actions(op: Operation | None) -> dict:
    actions = (op.metadata or {}).get("actions") if op is not None else None
    return actions if isinstance(actions, dict) else {}


def _plan_position(item) -> tuple:
    action, state = item
    order = state.get("order") if isinstance(state, dict) else None
    return (order if isinstance(order, int) else 1 << 30, action)


def _job_values(state) -> dict | None:
    if not isinstance(state, dict):
        return None
    decision = str(state.get("decision") or "run")
    if decision in NOT_A_JOB or state.get("state") == "reused":
        return None
    raw_state = state.get("state")
    job_state = raw_state if raw_state in ("pending", "running", "succeeded", "failed") else "pending"
    code = state.get("status_code") or (
        "EXECUTING" if job_state == "running" else _PENDING_CODES.get(decision, "CREATED")
    )
    finished_at = _text(state.get("finished_at"))
    return {
        "state": job_state,
        "decision": decision,
        "status_code": str(code)[:40],
        "status_message": str(state.get("status_message") or _default_message(decision, job_state)),
        "started_at": _text(state.get("started_at")),
        "finished_at": finished_at,
        # Every action that ran has metadata/<action>.log at the site (the log itself never leaves it).
        "log_exists": bool(state.get("log_exists", decision == "run" and job_state in FINISHED)),
    }


def _default_message(decision: str, state: str) -> str:
    if decision == "wait":
        return "already running in another job; waiting for it"
    return {"pending": "waiting to start", "running": "running", "succeeded": "completed", "failed": "failed"}[state]


def _text(value) -> str | None:
    return str(value)[:40] if value else None


def request_status(job: Job, op: Operation | None, jobs: dict[str, dict]) -> tuple[str, str]:
    """The request's status from its runtime job and its jobs' states (job-server's rules)."""
    states = [values["state"] for values in jobs.values()]
    error = (op.error or {}) if op is not None else {}
    if job.status == "cancelled":
        return "cancelled", "cancelled"
    if job.status in ("succeeded", "failed"):
        ran = [values for values in jobs.values() if values["decision"] == "run"]
        failed = [a for a, values in jobs.items() if values["state"] == "failed"]
        if failed:
            everyone_cancelled = all(jobs[a]["status_code"] == "CANCELLED_BY_USER" for a in failed)
            if everyone_cancelled and len(failed) == len(jobs):
                return "cancelled", f"{len(failed)} action(s) cancelled"
            return "failed", f"{len(failed)} of {len(jobs)} action(s) failed: " + ", ".join(failed[:10])
        if job.status == "failed":
            return "failed", str(error.get("message") or "the site could not run it")[:2000]
        if not ran:
            return "nothing_to_do", "every requested action is already done or running elsewhere"
        return "succeeded", f"{len(jobs)} action(s) succeeded"
    if job.status == "open":  # back in the queue (a lease ran out, or retried): the last attempt's states are history
        if job.attempts:
            return "pending", f"waiting for a site to pick it up again (attempt {job.attempts + 1})"
        return "pending", "waiting for the site to start it"
    if "running" in states or (op is not None and not op.done and states and any(s in FINISHED for s in states)):
        done = sum(s in FINISHED for s in states)
        return "running", f"{done} of {len(states)} action(s) finished"
    if op is not None and not op.done:
        return "pending", str((op.metadata or {}).get("status_message") or "claimed by the site; starting")[:2000]
    return "pending", "claimed by the site; starting"
