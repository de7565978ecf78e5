"""Typed calls to the jobs site's API over a RuntimeClient (same server, same tokens, same retries)."""

import hashlib
import secrets
from collections.abc import Iterator
from pathlib import Path

from orchestrator.jobsite.models import (
    JobRequest,
    LoginToken,
    Person,
    Project,
    Publication,
    ReleasedFile,
    ReleaseLogEntry,
    Workspace,
)
from orchestrator.runtime.client import RuntimeClient, RuntimeClientError


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

    # ---- released outputs and publications
    def released_files(self, workspace: str) -> list[ReleasedFile]:
        return list(self._pages(f"/api/workspaces/{workspace}/released-files", ReleasedFile))

    def released_file(self, file_id: int) -> ReleasedFile:
        return ReleasedFile.model_validate(self.runtime.get(f"/api/released-files/{file_id}"))

    def download_released_file(self, file_id: int, target: Path) -> ReleasedFile:
        """Save the file's bytes to `target`, checked against its sha256 (a mismatch leaves no file)."""
        file = self.released_file(file_id)
        digest = hashlib.sha256()
        with self.runtime.request("GET", f"/api/released-files/{file_id}/content", stream=True) as response:
            with open(target, "wb") as fh:
                for chunk in response.iter_content(1 << 20):
                    digest.update(chunk)
                    fh.write(chunk)
        if digest.hexdigest() != file.sha256:
            Path(target).unlink()
            raise RuntimeClientError(0, "CHECKSUM_MISMATCH", f"Released file {file_id} arrived with another sha256.")
        return file

    def delete_released_file(self, file_id: int) -> None:
        self.runtime.request("DELETE", f"/api/released-files/{file_id}")

    def release_log(self, workspace: str) -> list[ReleaseLogEntry]:
        return list(self._pages(f"/api/workspaces/{workspace}/release-log", ReleaseLogEntry))

    def create_publication(self, workspace: str, title: str = "") -> Publication:
        return Publication.model_validate(
            self.runtime.post(f"/api/workspaces/{workspace}/publications", {"title": title})
        )

    def publications(self, workspace: str) -> list[Publication]:
        return list(self._pages(f"/api/workspaces/{workspace}/publications", Publication))

    def publication(self, publication_id: str) -> Publication:
        return Publication.model_validate(self.runtime.get(f"/api/publications/{publication_id}"))

    def decide_publication(self, publication_id: str, publish: bool) -> Publication:
        verb = "publish" if publish else "reject"
        return Publication.model_validate(self.runtime.post(f"/api/publications/{publication_id}:{verb}"))
