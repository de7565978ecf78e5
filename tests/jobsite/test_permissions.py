"""The permission matrix: every jobs-site endpoint asked by anonymous and by one person per role, each
getting exactly the status the permission table promises (on SQLite and PostgreSQL, over HTTP)."""

import itertools

from orchestrator.jobsite.models import JobRequestCreate, MembershipSet, PublicationCreate
from orchestrator.jobsite.permissions import PERMISSIONS, Actor, Permission
from tests.jobsite.conftest import ADMIN, ROLES
from tests.jobsite.releases import record, release_body
from tests.utils.api import assert_error

EVERYONE = set(ROLES)
VIEWERS = {"developer", "collaborator"}  # of project alpha: who sees its released outputs
LOGGED_IN = EVERYONE - {"anonymous"}
_serial = itertools.count()


def _pending_request(world) -> str:
    developer = world.actor("developer")
    request, _ = world.jobsite.submit_request(
        JobRequestCreate(workspace="alpha-main", requested_actions=["prepare"]), developer
    )
    return request.id


def _endpoints(world):
    """(name, allowed roles, success status, prepare(role) -> (method, path, json))."""
    first_request = _pending_request(world)

    def new_file() -> int:
        return record(world, release_body(world, {f"output/{unique('f')}.csv": b"x"})).json()["files"][0]["id"]

    def new_draft() -> str:
        return world.jobsite.create_publication("alpha-main", PublicationCreate(), world.actor("developer")).id

    def unique(prefix):
        return f"{prefix}-{next(_serial)}"

    released = new_file()

    def member_to_remove(role):
        world.jobsite.set_membership("beta", "publisher", MembershipSet(roles=["ProjectCollaborator"]), ADMIN)
        return "DELETE", "/api/projects/beta/members/publisher", None

    return [
        ("list projects", EVERYONE, 200, lambda r: ("GET", "/api/projects", None)),
        (
            "create project",
            {"admin"},
            201,
            lambda r: ("POST", "/api/projects", {"slug": unique("p"), "name": "P", "org": "O"}),
        ),
        ("read project", EVERYONE, 200, lambda r: ("GET", "/api/projects/alpha", None)),
        ("edit project", {"admin"}, 200, lambda r: ("PATCH", "/api/projects/alpha", {"status": "postponed"})),
        ("list workspaces", EVERYONE, 200, lambda r: ("GET", "/api/projects/alpha/workspaces", None)),
        (
            "create workspace",
            {"developer"},
            201,
            lambda r: (
                "POST",
                "/api/projects/alpha/workspaces",
                {"name": unique("ws"), "repo": world.repo.url, "branch": "main", "site_id": "site-a"},
            ),
        ),
        ("list members", EVERYONE, 200, lambda r: ("GET", "/api/projects/alpha/members", None)),
        (
            "set member",
            {"admin"},
            200,
            lambda r: ("PUT", "/api/projects/beta/members/checker", {"roles": ["ProjectCollaborator"]}),
        ),
        ("remove member", {"admin"}, 204, member_to_remove),
        ("read workspace", EVERYONE, 200, lambda r: ("GET", "/api/workspaces/alpha-main", None)),
        (
            "edit workspace",
            {"developer"},
            200,
            lambda r: ("PATCH", "/api/workspaces/alpha-main", {"purpose": unique("x")}),
        ),
        (
            "submit job request",
            {"developer"},
            201,
            lambda r: ("POST", "/api/job-requests", {"workspace": "alpha-main", "requested_actions": ["prepare"]}),
        ),
        ("list job requests", EVERYONE, 200, lambda r: ("GET", "/api/job-requests?workspace=alpha-main", None)),
        ("read job request", EVERYONE, 200, lambda r: ("GET", f"/api/job-requests/{first_request}", None)),
        (
            "cancel job request",
            {"developer"},
            200,
            lambda r: ("POST", f"/api/job-requests/{_pending_request(world)}:cancel", None),
        ),
        ("who am I", LOGGED_IN, 200, lambda r: ("GET", "/api/me", None)),
        (
            "create person",
            {"admin"},
            201,
            lambda r: ("POST", "/api/people", {"username": unique("person"), "password": "long enough"}),
        ),
        ("read person", EVERYONE, 200, lambda r: ("GET", "/api/people/developer", None)),
        (
            "set global roles",
            {"admin"},
            200,
            lambda r: ("PATCH", "/api/people/publisher", {"roles": ["OutputPublisher"]}),
        ),
        (
            "set own email",
            LOGGED_IN,
            200,
            lambda r: ("PATCH", f"/api/people/{'developer' if r == 'anonymous' else r}", {"email": f"{r}@example.net"}),
        ),
        (
            "set someone else's email",
            {"admin", "developer"},  # the developer's own, in this row: everyone asks about the developer
            200,
            lambda r: ("PATCH", "/api/people/developer", {"email": "dev@example.net"}),
        ),
        ("make a single-use token", LOGGED_IN, 201, lambda r: ("POST", "/api/me/login-token", None)),
        (
            "record a release",
            set(),  # the workspace's site only (tests/jobsite/test_releases.py)
            201,
            lambda r: ("POST", "/api/releases", release_body(world, {"output/x.csv": b"x"})),
            "SITE_CREDENTIALS_REQUIRED",
        ),
        (
            "list released files",
            VIEWERS | {"checker"},
            200,
            lambda r: ("GET", "/api/workspaces/alpha-main/released-files", None),
        ),
        (
            "read a released file",
            VIEWERS | {"checker"},
            200,
            lambda r: ("GET", f"/api/released-files/{released}", None),
        ),
        (
            "download a released file",
            VIEWERS | {"checker"},
            200,
            lambda r: ("GET", f"/api/released-files/{released}/content", None),
        ),
        ("delete a released file", {"checker"}, 204, lambda r: ("DELETE", f"/api/released-files/{new_file()}", None)),
        (
            "draft a publication",
            {"developer"},
            201,
            lambda r: ("POST", "/api/workspaces/alpha-main/publications", None),
        ),
        ("list publications", EVERYONE, 200, lambda r: ("GET", "/api/workspaces/alpha-main/publications", None)),
        ("read a draft", VIEWERS | {"publisher"}, 200, lambda r: ("GET", f"/api/publications/{new_draft()}", None)),
        ("publish a draft", {"publisher"}, 200, lambda r: ("POST", f"/api/publications/{new_draft()}:publish", None)),
        ("reject a draft", {"publisher"}, 200, lambda r: ("POST", f"/api/publications/{new_draft()}:reject", None)),
        (
            "read the release log",
            LOGGED_IN - {"other_developer"},
            200,
            lambda r: ("GET", "/api/workspaces/alpha-main/release-log", None),
        ),
        (
            "redeem a single-use token",
            set(),  # a site's credentials only (tests/jobsite/test_tokens.py): no person, whatever their roles
            200,
            lambda r: ("POST", "/api/login-tokens:redeem", {"username": "developer", "token": "any three words"}),
            "SITE_CREDENTIALS_REQUIRED",
        ),
    ]


def test_every_endpoint_for_every_role(world):
    seen, wrong = set(), []
    for name, allowed, success, prepare, *denied_code in _endpoints(world):
        for role in ROLES:
            method, path, body = prepare(role)
            seen.add((method, path.split("?")[0]))
            response = world.call(method, path, as_=role, json=body)
            expected = success if role in allowed else 401 if role == "anonymous" else 403
            if response.status_code != expected:
                wrong.append(f"{name} as {role}: {response.status_code} (expected {expected}) {response.text[:200]}")
            elif expected in (401, 403):
                code = "LOGIN_REQUIRED" if expected == 401 else (denied_code or ["MISSING_ROLE"])[0]
                assert_error(response, expected, code)
    assert wrong == []
    routes = {
        (method, route.path) for route in world_routes() for method in route.methods if route.path.startswith("/api/")
    }
    asked = {(m, _template(p)) for m, p in seen}
    assert routes <= asked, f"endpoints the matrix does not ask: {sorted(routes - asked)}"


def world_routes():
    from orchestrator.server import JOBSITE_ROUTERS

    return [route for router in JOBSITE_ROUTERS for route in router.routes]


def _template(path: str) -> str:
    """The route template a concrete path was made from (names and ids back to their parameters)."""
    replacements = [
        (r"/api/projects/[^/]+/members/[^/]+", "/api/projects/{slug}/members/{username}"),
        (r"/api/projects/[^/]+/workspaces", "/api/projects/{slug}/workspaces"),
        (r"/api/projects/[^/]+/members", "/api/projects/{slug}/members"),
        (r"/api/projects/[^/]+", "/api/projects/{slug}"),
        (r"/api/workspaces/[^/]+", "/api/workspaces/{name}"),
        (r"/api/job-requests/[^/]+:cancel", "/api/job-requests/{request_id}:cancel"),
        (r"/api/job-requests/[^/]+", "/api/job-requests/{request_id}"),
        (r"/api/people/[^/]+", "/api/people/{username}"),
        (r"/api/workspaces/[^/]+/released-files", "/api/workspaces/{name}/released-files"),
        (r"/api/workspaces/[^/]+/publications", "/api/workspaces/{name}/publications"),
        (r"/api/workspaces/[^/]+/release-log", "/api/workspaces/{name}/release-log"),
        (r"/api/released-files/[^/]+/content", "/api/released-files/{file_id}/content"),
        (r"/api/released-files/[^/]+", "/api/released-files/{file_id}"),
        (r"/api/publications/[^/]+:publish", "/api/publications/{publication_id}:publish"),
        (r"/api/publications/[^/]+:reject", "/api/publications/{publication_id}:reject"),
        (r"/api/publications/[^/]+", "/api/publications/{publication_id}"),
    ]
    import re

    for pattern, template in replacements:
        if re.fullmatch(pattern, path):
            return template
    return path


def test_the_table_grants_what_the_design_says():
    """DESIGN §7's roles, read straight from the one table."""
    developer = Actor(user_id="d", project_roles={"alpha": frozenset({"ProjectDeveloper"})})
    collaborator = Actor(user_id="c", project_roles={"alpha": frozenset({"ProjectCollaborator"})})
    checker = Actor(user_id="k", global_roles=frozenset({"OutputChecker"}))
    publisher = Actor(user_id="p", global_roles=frozenset({"OutputPublisher"}))
    for permission in (
        Permission.RUN_JOBS,
        Permission.CANCEL_JOBS,
        Permission.CREATE_WORKSPACE,
        Permission.VIEW_LEVEL4_OUTPUTS,
    ):
        assert developer.can(permission, "alpha") and not developer.can(permission, "beta")
        assert not collaborator.can(permission, "alpha") and not checker.can(permission, "alpha")
    assert collaborator.can(Permission.VIEW_RELEASED_OUTPUTS, "alpha") and not collaborator.can(
        Permission.VIEW_RELEASED_OUTPUTS, "beta"
    )
    assert checker.can(Permission.REVIEW_RELEASES) and not developer.can(Permission.REVIEW_RELEASES, "alpha")
    assert publisher.can(Permission.PUBLISH) and not checker.can(Permission.PUBLISH)
    assert all(Actor().can(p) == (not PERMISSIONS[p]) for p in Permission)
