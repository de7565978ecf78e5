"""Job requests: submit one (branch pinned to a commit, that commit archived once as a study object,
its project.yaml validated, one runtime job made), read them, cancel them or some of their actions.

A request's runtime job id is derived from the request id, and the request id is the caller's key
when it gives one: a retried submit finds what the first one made (even halfway) and never makes a
second run.
"""

import hashlib
import secrets

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from orchestrator.jobsite import schema as t
from orchestrator.jobsite.git import GitCache, GitError
from orchestrator.jobsite.models import RUN_ALL, JobRequest, JobRequestCreate, RequestJob
from orchestrator.jobsite.permissions import Actor, Permission
from orchestrator.jobsite.store.base import JobsiteBase, insert_ignoring_conflicts, model_of, require
from orchestrator.pipeline.project import validate_project_source
from orchestrator.runtime.errors import Conflict, InvalidArgument, not_found
from orchestrator.runtime.models import Checksum, JobCreate, ObjectCreate, ObjectType, Page, Principal
from orchestrator.runtime.schema import utcnow
from orchestrator.runtime.store.base import found

PIPELINE_WORKFLOW = "pipeline-1.0.0"
# A type no trigger names: the request's own job runs the study, and nothing else may start from it.
STUDY_COMMIT_TYPE = "study-commit"
JOB_ID_PREFIX = "jobreq-"

_request = model_of(JobRequest, "job request")
_request_job = model_of(RequestJob, "request job")


def job_id_of(request_id: str) -> str:
    return JOB_ID_PREFIX + request_id


class RequestStore(JobsiteBase):
    git: GitCache

    def ensure_catalog(self) -> None:
        self.runtime.put_object_type(
            ObjectType(
                id=STUDY_COMMIT_TYPE,
                name="Study at a commit",
                description="A workspace's repository at the commit a job request pinned (git archive, tar.gz).",
            )
        )

    def submit_request(self, spec: JobRequestCreate, actor: Actor) -> tuple[JobRequest, bool]:
        """(request, created). The same id again returns the first request (or 409 if it asked for something else)."""
        workspace = self.get_workspace(spec.workspace)
        require(actor, Permission.RUN_JOBS, workspace.project)
        request_id = spec.id or "jr-" + secrets.token_hex(10)
        will_notify = workspace.notifications_default if spec.will_notify is None else spec.will_notify
        existing = self._find_request(request_id)
        if existing is not None:
            return self._same_request(existing, spec, will_notify), False
        if workspace.archived:
            raise Conflict(
                "WORKSPACE_ARCHIVED",
                f"Workspace {workspace.name!r} is archived; it takes no new job requests. Unarchive it first.",
                {"workspace": workspace.name},
            )
        commit = self._git(lambda: self.git.resolve_branch(workspace.repo, workspace.branch))
        actions = self._checked_actions(workspace.repo, commit, spec.requested_actions)
        object_id = self._study_object(workspace.repo, commit, workspace.name)
        job_id = job_id_of(request_id)
        config = {
            "workspace": workspace.name,
            "actions": actions,
            "force_run_dependencies": spec.force_run_dependencies,
            "database": workspace.database.value,
            "job_request_id": request_id,
        }
        by = Principal(kind="user", id=actor.user_id)
        # The workspace is the job's fair share: a workspace flooding its site waits behind the others' jobs.
        job = JobCreate(
            id=job_id,
            workflow_id=PIPELINE_WORKFLOW,
            inputs=[object_id],
            config=config,
            site_id=workspace.site_id,
            share=workspace.name,
        )
        self.runtime.create_job(job, by)
        now = utcnow()
        try:
            with self.write() as conn:
                conn.execute(
                    insert(t.job_requests).values(
                        id=request_id,
                        workspace=workspace.name,
                        project=workspace.project,
                        requested_actions=actions,
                        force_run_dependencies=spec.force_run_dependencies,
                        will_notify=will_notify,
                        commit=commit,
                        database=workspace.database.value,
                        site_id=workspace.site_id,
                        object_id=object_id,
                        job_id=job_id,
                        status="pending",
                        status_message="waiting for the site to start it",
                        cancelled_actions=[],
                        created_by=actor.user_id,
                        created_at=now,
                        updated_at=now,
                    )
                )
        except IntegrityError:  # the same id submitted concurrently: the other one made it
            return self._same_request(self.get_request(request_id), spec, will_notify), False
        return self.get_request(request_id), True

    def _same_request(self, existing: JobRequest, spec: JobRequestCreate, will_notify: bool) -> JobRequest:
        asked = (spec.workspace, spec.requested_actions, spec.force_run_dependencies)
        if asked != (existing.workspace, existing.requested_actions, existing.force_run_dependencies):
            raise Conflict(
                "ALREADY_EXISTS",
                f"Job request {existing.id!r} already exists and asks for something else; use a new id.",
                {"id": existing.id},
            )
        return self.get_request(existing.id)

    def _git(self, call):
        try:
            return call()
        except GitError as error:
            raise InvalidArgument(error.code, error.message, getattr(error, "details", None) or {}) from None

    def branch_actions(self, workspace_name: str) -> tuple[str, dict[str, tuple[str, ...]]]:
        """(the branch head's commit, each action of its project.yaml -> its needs, in file order): what a
        workspace's page offers to run. Public, as the project.yaml's repository is the workspace's."""
        workspace = self.get_workspace(workspace_name)
        commit = self._git(lambda: self.git.resolve_branch(workspace.repo, workspace.branch))
        return commit, self._valid_project(workspace.repo, commit).needs_graph

    def _checked_actions(self, repo: str, commit: str, requested: list[str]) -> list[str]:
        """Every problem at once, before anything is made: project.yaml's, then unknown action names."""
        project = self._valid_project(repo, commit)
        if RUN_ALL in requested:
            return [RUN_ALL]
        return self._unknown_actions(project, commit, requested)

    def _valid_project(self, repo: str, commit: str):
        source = self._git(lambda: self.git.read_file_at(repo, commit, "project.yaml"))
        if source is None:
            raise InvalidArgument(
                "NO_PROJECT_YAML",
                f"Commit {commit} has no project.yaml at the top of the repository.",
                {"commit": commit},
            )
        project, problems = validate_project_source(source)
        if problems:
            raise InvalidArgument(
                "INVALID_PROJECT",
                f"project.yaml at commit {commit[:12]} has {len(problems)} problem(s): "
                + "; ".join(problem.describe() for problem in problems),
                {
                    "commit": commit,
                    "problems": [
                        {"code": p.code, "message": p.message, "action": p.action, "field": p.field, "line": p.line}
                        for p in problems
                    ],
                },
            )
        return project

    def _unknown_actions(self, project, commit: str, requested: list[str]) -> list[str]:
        unknown = [name for name in requested if name not in project.actions]
        if unknown:
            raise InvalidArgument(
                "UNKNOWN_ACTIONS",
                f"project.yaml at commit {commit[:12]} has no action(s) {', '.join(map(repr, unknown))}; "
                f"it has {', '.join([RUN_ALL, *project.action_names])}.",
                {"unknown": unknown, "valid": [RUN_ALL, *project.action_names]},
            )
        return requested

    def _study_object(self, repo: str, commit: str, workspace: str) -> str:
        """The object holding `commit`'s tree; archived and stored only the first time."""
        repo_key = hashlib.sha256(repo.encode()).hexdigest()
        key = (t.study_commits.c.repo_key == repo_key, t.study_commits.c.commit == commit)
        with self.read() as conn:
            known = conn.execute(select(t.study_commits.c.object_id).where(*key)).scalar()
        if known:
            return known
        data = self._git(lambda: self.git.archive_commit(repo, commit))
        sha256 = hashlib.sha256(data).hexdigest()
        spec = ObjectCreate(
            name=f"{workspace}@{commit[:12]}.tar.gz",
            description=f"{repo} at commit {commit}",
            types=[STUDY_COMMIT_TYPE],
            size=len(data),
            checksums=[Checksum(type="sha256", checksum=sha256)],
            mime_type="application/gzip",
        )
        obj = self.runtime.put_object(spec, data, Principal(kind="user", id="jobsite"))
        with self.write() as conn:
            insert_ignoring_conflicts(
                conn,
                t.study_commits,
                {"repo_key": repo_key, "commit": commit, "object_id": obj.id},
                "repo_key",
                "commit",
            )
            return conn.execute(select(t.study_commits.c.object_id).where(*key)).scalar_one()  # a concurrent first wins

    # ---- reading
    def _find_request(self, request_id: str) -> JobRequest | None:
        with self.read() as conn:
            row = conn.execute(select(t.job_requests).where(t.job_requests.c.id == request_id)).first()
        return found(_request(row), "job request", request_id) if row is not None else None

    def get_request(self, request_id: str) -> JobRequest:
        request = self._find_request(request_id)
        if request is None:
            raise not_found("job request", request_id)
        with self.read() as conn:
            rows = conn.execute(
                select(t.request_jobs)
                .where(t.request_jobs.c.job_request_id == request_id)
                .order_by(t.request_jobs.c.seq)
            ).all()
        return request.model_copy(update={"jobs": [job for job in map(_request_job, rows) if job is not None]})

    def list_requests(
        self,
        after_seq: int = 0,
        limit: int = 100,
        workspace: str | None = None,
        project: str | None = None,
        before_seq: int | None = None,
    ) -> Page[JobRequest]:
        c = t.job_requests.c
        where = [col == value for col, value in ((c.workspace, workspace), (c.project, project)) if value is not None]
        return self.page(t.job_requests, _request, after_seq, limit, *where, before_seq=before_seq)

    # ---- cancelling
    def cancel_request(self, request_id: str, actions: list[str] | None, actor: Actor) -> JobRequest:
        """The whole request (its runtime job), or only `actions`: the site skips them or stops them."""
        request = self.get_request(request_id)
        require(actor, Permission.CANCEL_JOBS, request.project)
        if request.status in ("succeeded", "failed", "cancelled", "nothing_to_do"):
            raise Conflict(
                "REQUEST_FINISHED",
                f"Job request {request_id!r} is {request.status}; there is nothing to cancel.",
                {"id": request_id},
            )
        by = Principal(kind="user", id=actor.user_id)
        if actions:
            workspace = self.get_workspace(request.workspace)
            self._checked_actions(workspace.repo, request.commit, actions)  # 422 naming any the project lacks
            self.runtime.cancel_job(request.job_id, by, parts=actions)
            with self.write() as conn:
                merged = list(dict.fromkeys([*request.cancelled_actions, *actions]))
                conn.execute(
                    update(t.job_requests)
                    .where(t.job_requests.c.id == request_id)
                    .values(cancelled_actions=merged, updated_at=utcnow())
                )
        else:
            self.runtime.cancel_job(request.job_id, by)
        return self.get_request(request_id)
