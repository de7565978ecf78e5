"""Release requests: a developer asks for Level 4 files with a reason each (their bytes are copied then:
what is reviewed is what leaves); two output checkers, neither the author, approve or reject every
file; a checker returns the request to its author, who withdraws files and submits again, or releases
it once every file has two approvals. Each step and its audit entry commit together."""

import hashlib
import secrets
import shutil
from pathlib import Path

from sqlalchemy import delete, insert, select, update

from orchestrator.airlock import schema as a
from orchestrator.airlock.files import WorkspaceFiles
from orchestrator.airlock.models import (
    Decision,
    ReleaseRequest,
    ReleaseRequestCreate,
    RequestFile,
    RequestStatus,
    Review,
    ReviewCreate,
)
from orchestrator.jobsite.models import MAX_RELEASED_FILE_BYTES
from orchestrator.jobsite.permissions import Actor, Permission
from orchestrator.jobsite.store.base import require
from orchestrator.runtime.errors import Conflict, InvalidArgument, NotFound, PayloadTooLarge, PermissionDenied
from orchestrator.runtime.schema import utcnow

APPROVALS_NEEDED = 2
OPEN = (RequestStatus.SUBMITTED, RequestStatus.RETURNED)


class ReleaseRequests:
    def __init__(self, db, central, settings):
        self.db, self.central, self.settings = db, central, settings
        self.snapshots = Path(settings.airlock_dir) / "requests"

    def snapshot_path(self, request_id: str, path: str) -> Path:
        return self.snapshots / request_id / hashlib.sha256(path.encode()).hexdigest()[:32]

    def workspace_here(self, name: str):
        """The jobs site's workspace `name`, if it lives at this site (else not found)."""
        try:
            workspace = self.central.workspace(name)
        except NotFound:
            workspace = None
        if workspace is None or workspace.site_id != self.settings.site_id:
            raise NotFound("WORKSPACE_NOT_FOUND", f"No workspace {name!r} at this site ({self.settings.site_id}).")
        return workspace

    # ---- asking
    def create(self, spec: ReleaseRequestCreate, actor: Actor) -> ReleaseRequest:
        workspace = self.workspace_here(spec.workspace)
        require(actor, Permission.VIEW_LEVEL4_OUTPUTS, workspace.project)
        files = WorkspaceFiles(self.settings.workspaces_dir, workspace.name)
        request_id = "rr-" + secrets.token_hex(8)
        problems, copies = [], []
        paths = [f.path for f in spec.files]
        for path in sorted({p for p in paths if paths.count(p) > 1}):
            problems.append(f"{path}: named twice")
        for file in spec.files:
            try:
                data = files.level4_bytes(file.path, max_bytes=MAX_RELEASED_FILE_BYTES)
            except NotFound:
                problems.append(f"{file.path}: no such file in level4/")
                continue
            except PayloadTooLarge as too_large:
                size = too_large.details["size"]
                problems.append(f"{file.path}: {size} bytes, over the {MAX_RELEASED_FILE_BYTES} a release allows")
                continue
            copies.append((file, data))
        if problems:
            raise InvalidArgument(
                "INVALID_RELEASE_REQUEST", f"The request cannot be made: {'; '.join(problems)}.", {"problems": problems}
            )
        for file, data in copies:  # before the rows: a row never names a copy that is not there
            target = self.snapshot_path(request_id, file.path)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        now = utcnow()
        with self.db.write() as conn:
            conn.execute(
                insert(a.release_requests).values(
                    id=request_id,
                    workspace=workspace.name,
                    project=workspace.project,
                    author=actor.user_id,
                    status=RequestStatus.SUBMITTED.value,
                    created_at=now,
                    updated_at=now,
                )
            )
            for file, data in copies:
                conn.execute(
                    insert(a.request_files).values(
                        request_id=request_id,
                        path=file.path,
                        reason=file.reason,
                        sha256=hashlib.sha256(data).hexdigest(),
                        size=len(data),
                        withdrawn=False,
                        uploaded=False,
                    )
                )
                self.db.audit(
                    actor.user_id,
                    "request",
                    workspace=workspace.name,
                    request_id=request_id,
                    path=file.path,
                    detail=file.reason,
                    conn=conn,
                )
        return self.get(request_id, actor)

    # ---- reading
    def _row(self, conn, request_id: str, lock: bool = False):
        """The request's row; with `lock`, held until the transaction ends (PostgreSQL: FOR UPDATE; SQLite's
        writers take turns anyway), so a status checked here is still the status when the change commits."""
        query = select(a.release_requests).where(a.release_requests.c.id == request_id)
        row = conn.execute(query.with_for_update() if lock else query).first()
        if row is None:
            raise NotFound("RELEASE_REQUEST_NOT_FOUND", f"No release request {request_id!r} at this airlock.")
        return row

    def _require_sees(self, row, actor: Actor) -> None:
        if not actor.can(Permission.REVIEW_RELEASES):
            require(actor, Permission.VIEW_LEVEL4_OUTPUTS, row.project)

    def get(self, request_id: str, actor: Actor) -> ReleaseRequest:
        with self.db.read() as conn:
            row = self._row(conn, request_id)
            self._require_sees(row, actor)
            return self._model(conn, row)

    def _model(self, conn, row) -> ReleaseRequest:
        files = conn.execute(
            select(a.request_files).where(a.request_files.c.request_id == row.id).order_by(a.request_files.c.seq)
        ).all()
        reviews = conn.execute(
            select(a.reviews).where(a.reviews.c.request_id == row.id).order_by(a.reviews.c.at, a.reviews.c.reviewer)
        ).all()
        return ReleaseRequest(
            **{k: v for k, v in row._mapping.items() if k != "seq"},
            files=[
                RequestFile(
                    **{k: v for k, v in f._mapping.items() if k not in ("seq", "request_id")},
                    reviews=[
                        Review(**{k: getattr(r, k) for k in Review.model_fields}) for r in reviews if r.path == f.path
                    ],
                )
                for f in files
            ],
        )

    def list_requests(self, actor: Actor, workspace: str | None = None, status: RequestStatus | None = None):
        """Checkers see every request; developers those of their projects."""
        query = select(a.release_requests).order_by(a.release_requests.c.seq.desc()).limit(500)
        if workspace:
            query = query.where(a.release_requests.c.workspace == workspace)
        if status:
            query = query.where(a.release_requests.c.status == status.value)
        if not actor.can(Permission.REVIEW_RELEASES):
            projects = [p for p in actor.project_roles if actor.can(Permission.VIEW_LEVEL4_OUTPUTS, p)]
            if not projects:
                require(actor, Permission.VIEW_LEVEL4_OUTPUTS)  # 401/403 for someone with no project here
            query = query.where(a.release_requests.c.project.in_(projects))
        with self.db.read() as conn:
            return [self._model(conn, row) for row in conn.execute(query).all()]

    def file_bytes(self, request_id: str, path: str, actor: Actor) -> tuple[RequestFile, Path]:
        """A requested file's copy, for its reviewers and its project's developers."""
        request = self.get(request_id, actor)
        file = next((f for f in request.files if f.path == path), None)
        if file is None:
            raise NotFound("FILE_NOT_FOUND", f"Release request {request_id!r} has no file {path!r}.")
        copy = self.snapshot_path(request_id, path)
        if not copy.is_file():  # released (or withdrawn): the airlock keeps no copy any more
            raise NotFound(
                "COPY_DISCARDED",
                f"Release request {request_id} is {request.status.value}; the airlock no longer keeps its files. "
                "Released files are on the jobs site (orchestrator releases files WORKSPACE).",
            )
        return file, copy

    # ---- reviewing
    def _checker_not_author(self, row, actor: Actor, what: str) -> None:
        require(actor, Permission.REVIEW_RELEASES)
        if actor.user_id == row.author:
            raise PermissionDenied(
                "OWN_REQUEST", f"{actor.user_id} asked for release request {row.id}, so another checker must {what} it."
            )

    def review(self, request_id: str, spec: ReviewCreate, actor: Actor) -> ReleaseRequest:
        with self.db.write() as conn:
            row = self._row(conn, request_id, lock=True)
            self._checker_not_author(row, actor, "review")
            self._require_status(row, (RequestStatus.SUBMITTED,), "reviewed")
            live = conn.execute(
                select(a.request_files.c.path).where(
                    a.request_files.c.request_id == request_id,
                    a.request_files.c.path == spec.path,
                    a.request_files.c.withdrawn.is_(False),
                )
            ).first()
            if live is None:
                raise NotFound("FILE_NOT_FOUND", f"Release request {request_id!r} has no file {spec.path!r} to review.")
            key = (
                (a.reviews.c.request_id == request_id)
                & (a.reviews.c.path == spec.path)
                & (a.reviews.c.reviewer == actor.user_id)
            )
            conn.execute(delete(a.reviews).where(key))
            conn.execute(
                insert(a.reviews).values(
                    request_id=request_id,
                    path=spec.path,
                    reviewer=actor.user_id,
                    decision=spec.decision.value,
                    comment=spec.comment,
                    at=utcnow(),
                )
            )
            self._touch(conn, request_id)
            self.db.audit(
                actor.user_id,
                spec.decision.value,
                workspace=row.workspace,
                request_id=request_id,
                path=spec.path,
                detail=spec.comment,
                conn=conn,
            )
            return self._model(conn, self._row(conn, request_id))

    def return_to_author(self, request_id: str, comment: str, actor: Actor) -> ReleaseRequest:
        sources, target = (RequestStatus.SUBMITTED,), RequestStatus.RETURNED
        return self._move(request_id, actor, sources, target, ("return", "returned"), comment, checker=True)

    def submit_again(self, request_id: str, actor: Actor) -> ReleaseRequest:
        sources, target = (RequestStatus.RETURNED,), RequestStatus.SUBMITTED
        return self._move(request_id, actor, sources, target, ("resubmit", "submitted again"), "")

    def withdraw(self, request_id: str, paths: list[str] | None, actor: Actor) -> ReleaseRequest:
        """Withdraw `paths`, or (None) the whole request for good; its copies go with it."""
        if paths is None:
            target = RequestStatus.WITHDRAWN
            request = self._move(request_id, actor, OPEN, target, ("withdraw", "withdrawn"), "the whole request")
            self.discard_copies(request_id)
            return request
        if not paths:
            raise InvalidArgument(
                "NO_PATHS", "Name the files to withdraw, or send no paths to withdraw the whole request."
            )
        with self.db.write() as conn:
            row = self._row(conn, request_id, lock=True)
            self._require_author(row, actor)
            self._require_status(row, OPEN, "changed")
            for path in paths:
                hit = conn.execute(
                    update(a.request_files)
                    .where(a.request_files.c.request_id == request_id, a.request_files.c.path == path)
                    .values(withdrawn=True)
                ).rowcount
                if not hit:
                    raise NotFound("FILE_NOT_FOUND", f"Release request {request_id!r} has no file {path!r}.")
                self.db.audit(
                    actor.user_id,
                    "withdraw",
                    workspace=row.workspace,
                    request_id=request_id,
                    path=path,
                    detail="withdrew the file",
                    conn=conn,
                )
            self._touch(conn, request_id)
            return self._model(conn, self._row(conn, request_id))

    def _move(self, request_id, actor, sources, target, words, detail, checker=False) -> ReleaseRequest:
        action, verb = words
        with self.db.write() as conn:
            row = self._row(conn, request_id, lock=True)
            if checker:
                self._checker_not_author(row, actor, "return")
            else:
                self._require_author(row, actor)
            self._require_status(row, sources, verb)
            conn.execute(
                update(a.release_requests)
                .where(a.release_requests.c.id == request_id)
                .values(status=target.value, updated_at=utcnow())
            )
            self.db.audit(
                actor.user_id, action, workspace=row.workspace, request_id=request_id, detail=detail, conn=conn
            )
            return self._model(conn, self._row(conn, request_id))

    def _require_author(self, row, actor: Actor) -> None:
        require(actor, Permission.VIEW_LEVEL4_OUTPUTS, row.project)
        if actor.user_id != row.author:
            raise PermissionDenied("NOT_THE_AUTHOR", f"Only {row.author}, who asked for {row.id}, may change it.")

    @staticmethod
    def _require_status(row, allowed, verb: str) -> None:
        if RequestStatus(row.status) not in allowed:
            raise Conflict(
                "WRONG_STATUS",
                f"Release request {row.id} is {row.status}; it can be {verb} only when "
                f"{' or '.join(s.value for s in allowed)}.",
                {"status": row.status},
            )

    def _touch(self, conn, request_id: str) -> None:
        conn.execute(
            update(a.release_requests).where(a.release_requests.c.id == request_id).values(updated_at=utcnow())
        )

    def discard_copies(self, request_id: str) -> None:
        shutil.rmtree(self.snapshots / request_id, ignore_errors=True)

    # ---- releasing (see release.py for the uploads)
    def approval_problems(self, request: ReleaseRequest) -> dict[str, str]:
        """path -> why it cannot be released yet; {} when every live file has two approvals, no rejection."""
        problems = {}
        live = [f for f in request.files if not f.withdrawn]
        if not live:
            problems["*"] = "every file was withdrawn"
        for file in live:
            approvers = {r.reviewer for r in file.reviews if r.decision is Decision.APPROVE}
            rejecters = sorted(r.reviewer for r in file.reviews if r.decision is Decision.REJECT)
            if rejecters:
                problems[file.path] = f"rejected by {', '.join(rejecters)}: withdraw it or return the request"
            elif len(approvers) < APPROVALS_NEEDED:
                problems[file.path] = f"{len(approvers)} of {APPROVALS_NEEDED} approvals"
        return problems
