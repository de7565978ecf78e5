"""Releasing an approved request: each file's copy goes to the runtime as a `released-output` object,
then the jobs site records the release (by the request's id). Every step is recorded before the next,
so a release cut off anywhere (the airlock killed mid-upload) finishes when a checker releases again:
a file's object id is kept before its bytes are sent, an uploaded file is not sent twice, and the
release is recorded once."""

from sqlalchemy import select, update

from orchestrator.airlock import schema as a
from orchestrator.airlock.models import ReleaseRequest, RequestStatus
from orchestrator.airlock.requests import ReleaseRequests
from orchestrator.jobsite.permissions import Actor
from orchestrator.runtime.errors import Conflict
from orchestrator.runtime.schema import utcnow


def release(requests: ReleaseRequests, request_id: str, actor: Actor) -> ReleaseRequest:
    db = requests.db
    with db.write() as conn:
        row = requests._row(conn, request_id, lock=True)  # no review, return or withdrawal in between
        requests._checker_not_author(row, actor, "release")
        status = RequestStatus(row.status)
        if status is RequestStatus.SUBMITTED:
            problems = requests.approval_problems(requests._model(conn, row))
            if problems:
                raise Conflict(
                    "NOT_APPROVED",
                    f"Release request {request_id} cannot be released yet: "
                    + "; ".join(f"{path}: {why}" for path, why in problems.items()),
                    {"files": problems},
                )
            conn.execute(
                update(a.release_requests)
                .where(a.release_requests.c.id == request_id)
                .values(status=RequestStatus.RELEASING.value, updated_at=utcnow())
            )
            db.audit(
                actor.user_id,
                "release",
                workspace=row.workspace,
                request_id=request_id,
                detail="release started",
                conn=conn,
            )
        elif status is not RequestStatus.RELEASING:  # releasing: a release cut off before; resume it
            requests._require_status(row, (RequestStatus.SUBMITTED, RequestStatus.RELEASING), "released")

    try:
        recorded = _send(requests, request_id, actor)
    except Conflict as refused:  # the central server refuses for good: back to review, uploads kept
        with db.write() as conn:
            conn.execute(
                update(a.release_requests)
                .where(
                    a.release_requests.c.id == request_id, a.release_requests.c.status == RequestStatus.RELEASING.value
                )
                .values(status=RequestStatus.SUBMITTED.value, updated_at=utcnow())
            )
            db.audit(
                actor.user_id,
                "release-refused",
                workspace=row.workspace,
                request_id=request_id,
                detail=refused.message,
                conn=conn,
            )
        raise
    request = requests.get(request_id, actor)
    live = [f for f in request.files if not f.withdrawn]
    with db.write() as conn:
        done = conn.execute(
            update(a.release_requests)
            .where(a.release_requests.c.id == request_id, a.release_requests.c.status == RequestStatus.RELEASING.value)
            .values(
                status=RequestStatus.RELEASED.value,
                released_by=recorded.released_by,
                released_at=utcnow(),
                updated_at=utcnow(),
            )
        ).rowcount
        if not done:  # another checker's resumed release finished it first
            return requests.get(request_id, actor)
        db.audit(
            actor.user_id,
            "released",
            workspace=request.workspace,
            request_id=request_id,
            detail=f"{len(live)} file(s) released to the jobs site",
            conn=conn,
        )
    requests.discard_copies(request_id)
    return requests.get(request_id, actor)


def _send(requests: ReleaseRequests, request_id: str, actor: Actor):
    """Upload every file not yet uploaded, then have the jobs site record the release (by the request's id)."""
    request = requests.get(request_id, actor)
    for file in request.files:
        if not file.withdrawn and not file.uploaded:
            _upload(requests, request, file, actor)
    request = requests.get(request_id, actor)
    live = [f for f in request.files if not f.withdrawn]
    approvers = sorted({r.reviewer for f in live for r in f.reviews if r.decision == "approve"})
    return requests.central.record_release(
        {
            "id": request_id,
            "workspace": request.workspace,
            "requested_by": request.author,
            "released_by": actor.user_id,
            "reviewers": approvers,
            "files": [{"path": f.path, "object_id": f.object_id} for f in live],
        }
    )


def _upload(requests: ReleaseRequests, request: ReleaseRequest, file, actor: Actor) -> None:
    db, central = requests.db, requests.central
    where = (a.request_files.c.request_id == request.id) & (a.request_files.c.path == file.path)
    object_id = file.object_id
    if object_id is None:
        name = file.path.rsplit("/", 1)[-1]
        made = central.create_object(name, file.sha256, file.size)
        with db.write() as conn:  # kept before any byte is sent: a resumed release sends into this object
            conn.execute(
                update(a.request_files).where(where, a.request_files.c.object_id.is_(None)).values(object_id=made["id"])
            )
            object_id = conn.execute(select(a.request_files.c.object_id).where(where)).scalar_one()
        status = made["status"] if object_id == made["id"] else central.get_object(object_id)["status"]
    else:
        status = central.get_object(object_id)["status"]
    if status != "ready":
        central.put_bytes(object_id, requests.snapshot_path(request.id, file.path))
    with db.write() as conn:
        conn.execute(update(a.request_files).where(where).values(uploaded=True))
        db.audit(
            actor.user_id,
            "upload",
            workspace=request.workspace,
            request_id=request.id,
            path=file.path,
            detail=f"object {object_id}, sha256 {file.sha256}",
            conn=conn,
        )
