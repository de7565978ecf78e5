"""What the airlock asks of the central server, as its site (client credentials): redeem a person's
single-use token, read their roles and the workspaces of their projects, upload released files as
`released-output` objects and record the release. A central failure becomes a clear 4xx/503 here."""

from pathlib import Path

from orchestrator.jobsite.models import Person, Release, Workspace
from orchestrator.jobsite.permissions import Actor
from orchestrator.runtime.client import RuntimeClient, RuntimeClientError, quote_id
from orchestrator.runtime.errors import Conflict, NotFound, PermissionDenied, RuntimeApiError

RELEASED_OUTPUT_TYPE = "released-output"


class CentralUnavailable(RuntimeApiError):
    http_status = 503


def actor_of(person: Person) -> Actor:
    return Actor(
        user_id=person.username,
        is_admin=person.is_admin,
        global_roles=frozenset(str(role) for role in person.roles),
        project_roles={slug: frozenset(str(r) for r in roles) for slug, roles in person.memberships.items()},
    )


class Central:
    def __init__(self, client: RuntimeClient, site_id: str):
        self.client, self.site_id = client, site_id

    def _call(self, method: str, path: str, body=None, **kwargs):
        try:
            return self.client.request(method, path, json=body, **kwargs)
        except RuntimeClientError as exc:
            if exc.status in (401, 403) and exc.code == "LOGIN_TOKEN_REFUSED":
                raise PermissionDenied(exc.code, exc.message) from exc
            if exc.status == 404:
                raise NotFound(exc.code, exc.message, exc.details) from exc
            if exc.permanent and exc.status != 401:  # it would refuse again: say what, do not ask for a retry
                raise Conflict(
                    "CENTRAL_REFUSED",
                    f"The central server refused what the airlock asked: {exc.code}: {exc.message}",
                    {"central_status": exc.status, "central_code": exc.code, **exc.details},
                ) from exc
            raise CentralUnavailable(
                "CENTRAL_UNAVAILABLE",
                f"The central server did not do what the airlock asked ({exc.code}: {exc.message}). "
                "Try again in a minute; if it persists, tell the site's operator.",
                {"central_status": exc.status, "central_code": exc.code},
            ) from exc

    # ---- people
    def redeem(self, username: str, token: str) -> Person:
        body = {"username": username, "token": token}
        return Person.model_validate(self._call("POST", "/api/login-tokens:redeem", body).json())

    def person(self, username: str) -> Person:
        return Person.model_validate(self._call("GET", f"/api/people/{quote_id(username)}").json())

    # ---- workspaces
    def workspace(self, name: str) -> Workspace:
        return Workspace.model_validate(self._call("GET", f"/api/workspaces/{quote_id(name)}").json())

    def workspaces_here(self, project: str) -> list[Workspace]:
        """The project's workspaces that live at this site."""
        items = self.client.iterate(f"/api/projects/{quote_id(project)}/workspaces")
        try:
            return [w for w in map(Workspace.model_validate, items) if w.site_id == self.site_id]
        except RuntimeClientError as exc:
            raise CentralUnavailable("CENTRAL_UNAVAILABLE", f"Cannot list workspaces: {exc.message}") from exc

    # ---- releasing
    def create_object(self, name: str, sha256: str, size: int) -> dict:
        spec = {
            "name": name,
            "types": [RELEASED_OUTPUT_TYPE],
            "size": size,
            "checksums": [{"type": "sha256", "checksum": sha256}],
        }
        return self._call("POST", "/objects", spec).json()

    def get_object(self, object_id: str) -> dict:
        return self._call("GET", f"/objects/{quote_id(object_id)}").json()

    def put_bytes(self, object_id: str, path: Path) -> dict:
        with open(path, "rb") as fh:
            return self._call(
                "PUT",
                f"/objects/{quote_id(object_id)}/content",
                data=fh,
                headers={"Content-Type": "application/octet-stream"},
            ).json()

    def record_release(self, body: dict) -> Release:
        return Release.model_validate(self._call("POST", "/api/releases", body).json())
