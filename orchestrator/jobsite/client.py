"""Typed calls to the jobs site's API over a RuntimeClient (same server, same tokens, same retries)."""

import secrets
from collections.abc import Iterator

from orchestrator.jobsite.models import JobRequest, LoginToken, Person, Project, Workspace
from orchestrator.runtime.client import RuntimeClient


class JobsiteClient:
    def __init__(self, runtime: RuntimeClient):
        self.runtime = runtime

    def _pages(self, path: str, model, **params) -> Iterator:
        for item in self.runtime.iterate(path, **params):
            yield model.model_validate(item)

    # ---- projects and workspaces
    def projects(self) -> list[Project]:
        return list(self._pages("/api/projects", Project))

    def project(self, slug: str) -> Project:
        return Project.model_validate(self.runtime.get(f"/api/projects/{slug}"))

    def create_project(self, **fields) -> Project:
        return Project.model_validate(self.runtime.post("/api/projects", fields))

    def workspaces(self, project: str) -> list[Workspace]:
        return list(self._pages(f"/api/projects/{project}/workspaces", Workspace))

    def workspace(self, name: str) -> Workspace:
        return Workspace.model_validate(self.runtime.get(f"/api/workspaces/{name}"))

    def create_workspace(self, project: str, **fields) -> Workspace:
        return Workspace.model_validate(self.runtime.post(f"/api/projects/{project}/workspaces", fields))

    def update_workspace(self, name: str, **fields) -> Workspace:
        return Workspace.model_validate(self.runtime.patch(f"/api/workspaces/{name}", fields))

    # ---- job requests
    def submit(
        self, workspace: str, actions: list[str], force_run_dependencies: bool = False, will_notify: bool | None = None
    ) -> JobRequest:
        """One id for all of this call's retries: a lost reply retried returns the same request."""
        body = {
            "id": "jr-" + secrets.token_hex(10),
            "workspace": workspace,
            "requested_actions": actions,
            "force_run_dependencies": force_run_dependencies,
        }
        if will_notify is not None:
            body["will_notify"] = will_notify
        return JobRequest.model_validate(self.runtime.post("/api/job-requests", body))

    def request(self, request_id: str) -> JobRequest:
        return JobRequest.model_validate(self.runtime.get(f"/api/job-requests/{request_id}"))

    def newest_requests(self, count: int, workspace: str | None = None) -> list[JobRequest]:
        params = {"workspace": workspace} if workspace else {}
        page = self.runtime.get("/api/job-requests", before_seq=2**63 - 1, limit=min(count, 1000), **params)
        return [JobRequest.model_validate(item) for item in page["items"]]

    def cancel(self, request_id: str, actions: list[str] | None = None) -> JobRequest:
        body = {"actions": actions} if actions else None
        return JobRequest.model_validate(self.runtime.post(f"/api/job-requests/{request_id}:cancel", body))

    # ---- single-use tokens
    def create_login_token(self) -> LoginToken:
        return LoginToken.model_validate(self.runtime.post("/api/me/login-token"))

    def redeem_login_token(self, username: str, token: str) -> Person:
        """As a site: check and consume `username`'s token; who they are and their roles."""
        return Person.model_validate(
            self.runtime.post("/api/login-tokens:redeem", {"username": username, "token": token})
        )
