"""Emails to people, written to the outbox inside the transaction of the change they tell about (job
requests in sync.py, login tokens in store/tokens.py); `mail.py` sends them. Each message's id is
derived from what it tells (request, action, outcome), so telling the same thing twice inserts nothing."""

import hashlib

from sqlalchemy import select

from orchestrator.jobsite import schema as t
from orchestrator.jobsite.store.base import insert_ignoring_conflicts
from orchestrator.runtime.schema import utcnow


def request_link(public_url: str, request_id: str) -> str:
    return f"{public_url.rstrip('/')}/api/job-requests/{request_id}" if public_url else f"job request {request_id}"


def queue_job_email(conn, request, action: str, job: dict, public_url: str) -> None:
    subject = f"[{request.workspace}] {action}: {job['state']} ({job['status_code']})"
    body = (
        f"The job for action {action!r} of job request {request.id} in workspace {request.workspace} "
        f"(project {request.project}) has {job['state']}.\n\n"
        f"Status: {job['status_code']}\n"
        f"Message: {job['status_message']}\n"
        f"Started: {job['started_at'] or '-'}\nFinished: {job['finished_at'] or '-'}\n\n"
        f"Commit: {request.commit}\n"
        f"The request: {request_link(public_url, request.id)}\n"
    )
    queue_email(conn, request.created_by, f"{request.id}.{action}.{job['state']}", subject, body)


def queue_request_email(conn, request, status: str, message: str, public_url: str) -> None:
    subject = f"[{request.workspace}] job request {request.id}: {status}"
    body = (
        f"Job request {request.id} in workspace {request.workspace} (project {request.project}) is {status}.\n\n"
        f"{message}\n\nThe request: {request_link(public_url, request.id)}\n"
    )
    queue_email(conn, request.created_by, f"{request.id}.request.{status}", subject, body)


def queue_email(conn, user_id: str, key: str, subject: str, body: str) -> None:
    """Queue an email to a person, once per `key`; nothing when they have no address on record."""
    recipient = conn.execute(select(t.people.c.email).where(t.people.c.user_id == user_id)).scalar()
    if not recipient:
        return
    now = utcnow()
    insert_ignoring_conflicts(
        conn,
        t.outbox,
        {
            "message_id": message_id_for(key),
            "recipient": recipient,
            "subject": subject[:500],
            "body": body,
            "created_at": now,
            "attempts": 0,
            "next_attempt_at": now,
        },
        "message_id",
    )


def message_id_for(key: str) -> str:
    """The Message-ID (without <>) of the email that tells `key`; the sender uses it, receivers dedupe by it."""
    return f"{hashlib.sha256(key.encode()).hexdigest()[:32]}@jobsite.orchestrator"
