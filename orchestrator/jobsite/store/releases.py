"""Released outputs and their publication (DESIGN §8): a site's airlock records a release of files it
uploaded as `released-output` objects; the project's developers and collaborators see them; a developer
drafts a publication of a workspace's latest released files; an output publisher publishes it for
everyone, or rejects it; a checker may delete a file from a release. Every step goes to release_log in
the transaction that makes it."""

import secrets
from pathlib import PurePosixPath

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError

from orchestrator.jobsite import schema as t
from orchestrator.jobsite.models import (
    MAX_RELEASED_FILE_BYTES,
    GlobalRole,
    Publication,
    PublicationCreate,
    PublicationStatus,
    Release,
    ReleaseCreate,
    ReleasedFile,
    ReleaseLogEntry,
)
from orchestrator.jobsite.permissions import Actor, Permission
from orchestrator.jobsite.store.base import JobsiteBase, model_of, require, require_site
from orchestrator.runtime.errors import Conflict, InvalidArgument, NotFound, PermissionDenied, not_found
from orchestrator.runtime.models import ObjectType, Page, Principal
from orchestrator.runtime.schema import utcnow
from orchestrator.runtime.store.base import found

RELEASED_OUTPUT_TYPE = "released-output"
_file = model_of(ReleasedFile, "released file")
_log_entry = model_of(ReleaseLogEntry, "release log entry")
LIVE = t.released_files.c.deleted_at.is_(None)


def _path_problem(path: str) -> str | None:
    parts = PurePosixPath(path).parts
    if path.startswith("/") or "\\" in path or "\x00" in path:
        return "must be a relative path with / separators"
    if not parts or any(part in ("..", ".") for part in parts) or path != str(PurePosixPath(path)):
        return "must be a plain relative path (no '.', '..' or empty parts)"
    return None


class ReleaseStore(JobsiteBase):
    def ensure_release_type(self) -> None:
        self.runtime.put_object_type(
            ObjectType(
                id=RELEASED_OUTPUT_TYPE,
                name="Released output",
                description="A Level 4 file two output checkers approved, uploaded by its site's airlock.",
                restricted=True,  # people read it through the jobs site, by its project's roles
            )
        )

    # ---- releases, recorded by the airlock of the workspace's site
    def record_release(self, spec: ReleaseCreate, principal: Principal | None) -> tuple[Release, bool]:
        """(release, created). The same id again returns the first record if it holds the same files."""
        require_site(principal, "record a release")
        workspace = self.get_workspace(spec.workspace)
        if workspace.site_id != principal.id:
            raise PermissionDenied(
                "WRONG_SITE",
                f"Workspace {workspace.name!r} lives at site {workspace.site_id!r}; only its airlock releases its files.",
                {"workspace": workspace.name, "site_id": workspace.site_id},
            )
        existing = self._find_release(spec.id)
        if existing is not None:
            return self._same_release(existing, spec), False
        sizes = self._checked_release(spec, principal)
        now = utcnow()
        try:
            with self.write() as conn:
                conn.execute(
                    insert(t.releases).values(
                        id=spec.id,
                        workspace=workspace.name,
                        project=workspace.project,
                        site_id=principal.id,
                        requested_by=spec.requested_by,
                        released_by=spec.released_by,
                        reviewers=spec.reviewers,
                        created_at=now,
                    )
                )
                for file in spec.files:
                    sha256, size = sizes[file.object_id]
                    seq = conn.execute(
                        insert(t.released_files)
                        .values(
                            release_id=spec.id,
                            workspace=workspace.name,
                            project=workspace.project,
                            path=file.path,
                            object_id=file.object_id,
                            sha256=sha256,
                            size=size,
                            released_at=now,
                            released_by=spec.released_by,
                        )
                        .returning(t.released_files.c.seq)
                    ).scalar_one()
                    _log(conn, spec.released_by, "release", workspace.name, f"released {file.path}", spec.id, seq)
        except IntegrityError:  # a concurrent recording of the same id won
            existing = self._find_release(spec.id)
            if existing is None:
                raise
            return self._same_release(existing, spec), False
        return self.get_release(spec.id), True

    def _checked_release(self, spec: ReleaseCreate, principal: Principal) -> dict[str, tuple[str, int]]:
        """Every problem with the files and reviewers at once (422); object id -> (sha256, size)."""
        problems, sizes = [], {}
        paths = [file.path for file in spec.files]
        for path in sorted({p for p in paths if paths.count(p) > 1}):
            problems.append(f"{path}: named twice")
        for file in spec.files:
            if problem := _path_problem(file.path):
                problems.append(f"{file.path!r}: {problem}")
            try:
                obj = self.runtime.get_object(file.object_id)
            except NotFound:
                problems.append(f"{file.path}: no object {file.object_id!r}")
                continue
            if obj.status != "ready":
                problems.append(f"{file.path}: object {obj.id} has no bytes yet")
            elif RELEASED_OUTPUT_TYPE not in obj.types:
                problems.append(f"{file.path}: object {obj.id} is not of type {RELEASED_OUTPUT_TYPE}")
            elif obj.site_id != principal.id:
                problems.append(f"{file.path}: object {obj.id} was not uploaded by site {principal.id}")
            elif obj.size > MAX_RELEASED_FILE_BYTES:
                problems.append(f"{file.path}: {obj.size} bytes, over the {MAX_RELEASED_FILE_BYTES} a release allows")
            else:
                sizes[obj.id] = (obj.checksums_sha256(), obj.size)
        reviewers = set(spec.reviewers)
        if len(reviewers) < 2:
            problems.append("two different output checkers must review a release")
        if spec.requested_by in reviewers | {spec.released_by}:
            problems.append(f"{spec.requested_by} asked for this release and may not review or release it")
        for name in sorted(reviewers | {spec.released_by}):
            if GlobalRole.OUTPUT_CHECKER not in self.actor_for(name).global_roles:
                problems.append(f"{name} is not an output checker")
        if problems:
            raise InvalidArgument(
                "INVALID_RELEASE",
                f"The release cannot be recorded: {'; '.join(problems)}.",
                {"problems": problems},
            )
        return sizes

    def _find_release(self, release_id: str):
        with self.read() as conn:
            return conn.execute(select(t.releases).where(t.releases.c.id == release_id)).first()

    def _same_release(self, row, spec: ReleaseCreate) -> Release:
        release = self.get_release(row.id, deleted_too=True)
        recorded = sorted((f.path, f.object_id) for f in self._files_of(row.id))
        if row.workspace != spec.workspace or recorded != sorted((f.path, f.object_id) for f in spec.files):
            raise Conflict(
                "ALREADY_EXISTS",
                f"Release {row.id!r} was recorded with other files; a new release needs a new id.",
                {"id": row.id},
            )
        return release

    def _files_of(self, release_id: str):
        with self.read() as conn:
            return conn.execute(select(t.released_files).where(t.released_files.c.release_id == release_id)).all()

    def get_release(self, release_id: str, deleted_too: bool = False) -> Release:
        row = self._find_release(release_id)
        if row is None:
            raise not_found("release", release_id)
        files = [f for f in self._files_of(release_id) if deleted_too or f.deleted_at is None]
        values = {**row._mapping, "files": [found(_file(f), "released file", str(f.seq)) for f in files]}
        return Release.model_validate(values)

    # ---- released files
    def list_released_files(self, workspace: str, actor: Actor, after_seq: int = 0, limit: int = 100):
        project = self.get_workspace(workspace).project
        if not actor.can(Permission.REVIEW_RELEASES):  # checkers see what they may delete from a release
            require(actor, Permission.VIEW_RELEASED_OUTPUTS, project)
        return self.page(t.released_files, _file, after_seq, limit, t.released_files.c.workspace == workspace, LIVE)

    def released_file(self, file_id: int, actor: Actor) -> tuple[ReleasedFile, str]:
        """(the file, its object id) if `actor` may read it: a member who sees released outputs, an output
        checker, anyone once it is published, a publisher while it is in a draft. A deleted file is gone
        for everyone."""
        with self.read() as conn:
            row = conn.execute(select(t.released_files).where(t.released_files.c.seq == file_id, LIVE)).first()
            statuses = set()
            if row is not None:
                statuses = set(
                    conn.execute(
                        select(t.publications.c.status)
                        .join(t.publication_files, t.publication_files.c.publication_id == t.publications.c.id)
                        .where(t.publication_files.c.file_seq == file_id)
                    ).scalars()
                )
        if row is None:
            raise not_found("released file", str(file_id))
        if (
            PublicationStatus.PUBLISHED not in statuses
            and not (PublicationStatus.DRAFT in statuses and actor.can(Permission.PUBLISH))
            and not actor.can(Permission.REVIEW_RELEASES)
        ):
            require(actor, Permission.VIEW_RELEASED_OUTPUTS, row.project)
        return found(_file(row), "released file", str(file_id)), row.object_id

    def released_file_path(self, file_id: int, actor: Actor):
        """(the file, the path of its bytes in the runtime's blob store)."""
        file, object_id = self.released_file(file_id, actor)
        return file, self.runtime.blob_path_of(self.runtime.get_object(object_id))

    def delete_released_file(self, file_id: int, actor: Actor) -> None:
        """A checker takes a file out of its release: gone from every view and download; the log keeps it."""
        require(actor, Permission.REVIEW_RELEASES)
        with self.write() as conn:
            row = conn.execute(
                update(t.released_files)
                .where(t.released_files.c.seq == file_id, LIVE)
                .values(deleted_at=utcnow(), deleted_by=actor.user_id)
                .returning(t.released_files.c.workspace, t.released_files.c.release_id, t.released_files.c.path)
            ).first()
            if row is None:
                raise not_found("released file", str(file_id))
            _log(conn, actor.user_id, "delete", row.workspace, f"deleted {row.path}", row.release_id, file_id)

    # ---- publications
    def create_publication(self, workspace: str, spec: PublicationCreate, actor: Actor) -> Publication:
        """A draft of the workspace's latest released file at each path."""
        ws = self.get_workspace(workspace)
        require(actor, Permission.CREATE_DRAFT_PUBLICATION, ws.project)
        publication_id = "pub-" + secrets.token_hex(8)
        with self.write() as conn:
            latest = (
                select(func.max(t.released_files.c.seq))
                .where(t.released_files.c.workspace == workspace, LIVE)
                .group_by(t.released_files.c.path)
            )
            seqs = sorted(conn.execute(latest).scalars())
            if not seqs:
                raise Conflict(
                    "NOTHING_RELEASED",
                    f"Workspace {workspace!r} has no released files to publish; release some at its airlock first.",
                    {"workspace": workspace},
                )
            conn.execute(
                insert(t.publications).values(
                    id=publication_id,
                    workspace=workspace,
                    project=ws.project,
                    title=spec.title or f"Outputs of {workspace}",
                    status=PublicationStatus.DRAFT.value,
                    created_by=actor.user_id,
                    created_at=utcnow(),
                )
            )
            conn.execute(insert(t.publication_files), [{"publication_id": publication_id, "file_seq": s} for s in seqs])
            _log(conn, actor.user_id, "draft", workspace, f"drafted {len(seqs)} file(s)", publication=publication_id)
        return self.get_publication(publication_id, actor)

    def get_publication(self, publication_id: str, actor: Actor | None) -> Publication:
        """The publication if `actor` may see it (None: whoever just acted on it may)."""
        with self.read() as conn:
            row = conn.execute(select(t.publications).where(t.publications.c.id == publication_id)).first()
            if row is None:
                raise not_found("publication", publication_id)
            if actor is not None:
                self._require_sees_publication(row, actor)
            files = conn.execute(
                select(t.released_files)
                .join(t.publication_files, t.publication_files.c.file_seq == t.released_files.c.seq)
                .where(t.publication_files.c.publication_id == publication_id, LIVE)
                .order_by(t.released_files.c.path)
            ).all()
        items = [found(_file(f), "released file", str(f.seq)) for f in files]
        return Publication.model_validate({**row._mapping, "files": items})

    def _require_sees_publication(self, row, actor: Actor) -> None:
        if row.status == PublicationStatus.PUBLISHED or (
            row.status == PublicationStatus.DRAFT and actor.can(Permission.PUBLISH)
        ):
            return
        require(actor, Permission.VIEW_RELEASED_OUTPUTS, row.project)

    def list_publications(self, workspace: str, actor: Actor, after_seq: int = 0, limit: int = 100):
        """The workspace's publications this actor may see: published ones to anyone."""
        ws = self.get_workspace(workspace)
        where = [t.publications.c.workspace == workspace]
        if not actor.can(Permission.VIEW_RELEASED_OUTPUTS, ws.project):
            visible = [PublicationStatus.PUBLISHED.value]
            if actor.can(Permission.PUBLISH):
                visible.append(PublicationStatus.DRAFT.value)
            where.append(t.publications.c.status.in_(visible))
        page = self.page(t.publications, lambda row: row.id, after_seq, limit, *where)
        return Page(items=[self.get_publication(pid, actor) for pid in page.items], next_after_seq=page.next_after_seq)

    def decide_publication(self, publication_id: str, publish: bool, actor: Actor) -> Publication:
        require(actor, Permission.PUBLISH)
        status = PublicationStatus.PUBLISHED if publish else PublicationStatus.REJECTED
        with self.write() as conn:
            row = conn.execute(
                update(t.publications)
                .where(t.publications.c.id == publication_id, t.publications.c.status == PublicationStatus.DRAFT.value)
                .values(status=status.value, decided_by=actor.user_id, decided_at=utcnow())
                .returning(t.publications.c.workspace)
            ).first()
            if row is None:
                current = conn.execute(
                    select(t.publications.c.status).where(t.publications.c.id == publication_id)
                ).scalar()
                if current is None:
                    raise not_found("publication", publication_id)
                raise Conflict(
                    "NOT_A_DRAFT",
                    f"Publication {publication_id!r} is {current}; only a draft is published or rejected.",
                    {"id": publication_id, "status": current},
                )
            _log(conn, actor.user_id, status.value, row.workspace, f"{status.value} it", publication=publication_id)
        return self.get_publication(publication_id, None)  # a rejected draft is no longer the publisher's to see

    # ---- the audit log
    def release_log(self, workspace: str, actor: Actor, after_seq: int = 0, limit: int = 100) -> Page[ReleaseLogEntry]:
        project = self.get_workspace(workspace).project
        require(actor, Permission.VIEW_RELEASE_LOG, project)
        return self.page(t.release_log, _log_entry, after_seq, limit, t.release_log.c.workspace == workspace)


def _log(conn, actor: str, action: str, workspace: str, detail: str, release=None, file_seq=None, publication=None):
    conn.execute(
        insert(t.release_log).values(
            at=utcnow(),
            actor=actor,
            action=action,
            workspace=workspace,
            release_id=release,
            file_seq=file_seq,
            publication_id=publication,
            detail=detail,
        )
    )
