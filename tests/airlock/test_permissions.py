"""The airlock's permission matrix: every endpoint asked by anonymous, a collaborator, a developer of the
project, a developer of another project, the request's author who is also an output checker, a checker,
a publisher and an admin, each getting exactly the status the permission table (and the rule that a
checker never reviews their own request) promises."""

import re

from orchestrator.airlock.app import ROUTERS
from orchestrator.jobsite.models import GlobalRole, MembershipSet, PersonCreate
from tests.airlock.test_release_requests import FILES, approve_all
from tests.jobsite.conftest import ADMIN
from tests.utils.api import assert_error

ROLES = ("anonymous", "collaborator", "developer", "other_developer", "author", "checker", "publisher", "admin")
LOGGED_IN = set(ROLES) - {"anonymous"}
DEVELOPERS = {"developer", "author"}
SEES_REQUESTS = DEVELOPERS | {"checker"}


def add_author(world) -> None:
    """`author`: a developer of alpha who is an output checker too, and asks for the matrix's releases."""
    world.passwords["author"] = "author-password"
    world.jobsite.create_person(
        PersonCreate(username="author", password="author-password", roles=[GlobalRole.OUTPUT_CHECKER]), ADMIN
    )
    world.jobsite.set_membership("alpha", "author", MembershipSet(roles=["ProjectDeveloper"]), ADMIN)


def test_every_airlock_endpoint_for_every_role(airlock):
    add_author(airlock.world)

    def new_request() -> str:
        response = airlock.call(
            "POST", "/api/release-requests", as_="author", json={"workspace": "alpha-main", "files": FILES}
        )
        assert response.status_code == 201, response.text
        return response.json()["id"]

    def returned() -> str:
        rid = new_request()
        assert airlock.call("POST", f"/api/release-requests/{rid}:return", as_="checker").status_code == 200
        return rid

    def approved() -> str:
        rid = new_request()
        approve_all(airlock, rid, [f["path"] for f in FILES])
        return rid

    rid = new_request()
    body = {"workspace": "alpha-main", "files": FILES}
    review = {"path": "output/table.csv", "decision": "approve", "comment": "fine"}
    endpoints = [
        ("who am I", LOGGED_IN, 200, lambda: ("GET", "/api/me", None)),
        ("my workspaces", LOGGED_IN, 200, lambda: ("GET", "/api/workspaces", None)),
        ("list files", DEVELOPERS, 200, lambda: ("GET", "/api/workspaces/alpha-main/files", None)),
        ("view a file", DEVELOPERS, 200, lambda: ("GET", "/api/workspaces/alpha-main/files/output/table.csv", None)),
        ("file bytes", DEVELOPERS, 200, lambda: ("GET", "/api/workspaces/alpha-main/content/output/table.csv", None)),
        ("an action's log", DEVELOPERS, 200, lambda: ("GET", "/api/workspaces/alpha-main/logs/prepare", None)),
        ("ask for a release", DEVELOPERS, 201, lambda: ("POST", "/api/release-requests", body)),
        ("list requests", SEES_REQUESTS | {"other_developer"}, 200, lambda: ("GET", "/api/release-requests", None)),
        ("read a request", SEES_REQUESTS, 200, lambda: ("GET", f"/api/release-requests/{rid}", None)),
        (
            "requested bytes",
            SEES_REQUESTS,
            200,
            lambda: ("GET", f"/api/release-requests/{rid}/content/output/table.csv", None),
        ),
        ("a request's audit", SEES_REQUESTS, 200, lambda: ("GET", f"/api/release-requests/{rid}/audit", None)),
        ("review a file", {"checker"}, 200, lambda: ("POST", f"/api/release-requests/{rid}/reviews", review)),
        ("return", {"checker"}, 200, lambda: ("POST", f"/api/release-requests/{new_request()}:return", None)),
        ("submit again", {"author"}, 200, lambda: ("POST", f"/api/release-requests/{returned()}:submit", None)),
        ("withdraw", {"author"}, 200, lambda: ("POST", f"/api/release-requests/{new_request()}:withdraw", None)),
        ("release", {"checker"}, 200, lambda: ("POST", f"/api/release-requests/{approved()}:release", None)),
    ]
    asked, wrong = set(), []
    for name, allowed, success, prepare in endpoints:
        for role in ROLES:
            method, path, json = prepare()
            asked.add((method, path))
            response = airlock.call(method, path, as_=role, json=json)
            expected = success if role in allowed else 401 if role == "anonymous" else 403
            if response.status_code != expected:
                wrong.append(f"{name} as {role}: {response.status_code} (expected {expected}) {response.text[:160]}")
            elif expected == 401:
                assert_error(response, 401, "LOGIN_REQUIRED")
            elif expected == 403:
                assert_error(response, 403)
    assert wrong == []
    templates = {
        (method, route.path)
        for router in ROUTERS
        for route in router.routes
        for method in route.methods
        if route.path not in ("/api/login", "/api/logout")  # public: tests/airlock/test_login.py
    }
    assert templates <= {(m, _template(p)) for m, p in asked}, sorted(templates - {(m, _template(p)) for m, p in asked})


def _template(path: str) -> str:
    for pattern, template in (
        (r"/api/workspaces/[^/]+/files", "/api/workspaces/{name}/files"),
        (r"/api/workspaces/[^/]+/files/.+", "/api/workspaces/{name}/files/{path:path}"),
        (r"/api/workspaces/[^/]+/content/.+", "/api/workspaces/{name}/content/{path:path}"),
        (r"/api/workspaces/[^/]+/logs/[^/]+", "/api/workspaces/{name}/logs/{action}"),
        (r"/api/release-requests/[^/]+/content/.+", "/api/release-requests/{request_id}/content/{path:path}"),
        (r"/api/release-requests/[^/]+/reviews", "/api/release-requests/{request_id}/reviews"),
        (r"/api/release-requests/[^/]+/audit", "/api/release-requests/{request_id}/audit"),
        (r"/api/release-requests/[^/:]+:(\w+)", r"/api/release-requests/{request_id}:\1"),
        (r"/api/release-requests/[^/]+", "/api/release-requests/{request_id}"),
    ):
        if re.fullmatch(pattern, path):
            return re.sub(pattern, template, path)
    return path
