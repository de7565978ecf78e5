"""Projects, workspaces, members and people through the API: what each accepts, refuses and shows."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from orchestrator.jobsite import migrate
from orchestrator.jobsite.schema import metadata
from tests.utils.api import assert_error


def test_jobsite_tables_match_their_migrations_and_live_beside_the_runtimes(store, jobsite):
    with store.writer.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "compare_type": False,
                "include_name": lambda name, type_, _p: type_ != "table" or name in metadata.tables,
                "version_table": migrate.VERSION_TABLE,
            },
        )
        assert compare_metadata(context, metadata) == []
        assert context.get_current_revision() == "0003"
        tables = set(inspect(conn).get_table_names())
    assert {"jobs", "operations", "alembic_version"} <= tables  # the runtime's, untouched
    assert {"projects", "workspaces", "job_requests", "outbox", "login_tokens", migrate.VERSION_TABLE} <= tables
    migrate.upgrade(store.writer)  # again: a no-op


def test_projects_are_public_and_their_status_description_is_rendered_safely(world):
    description = (
        "**Ethics approved.** <script>alert(1)</script> [click](javascript:alert(1)) [ok](https://example.org)"
    )
    response = world.call(
        "PATCH",
        "/api/projects/alpha",
        as_="admin",
        json={"status": "ongoing-linked", "status_description": description},
    )
    assert response.status_code == 200, response.text
    project = world.call("GET", "/api/projects/alpha", as_="anonymous").json()
    assert project["status"] == "ongoing-linked" and project["status_description"] == description
    html = project["status_description_html"]
    assert "<strong>Ethics approved.</strong>" in html and '<a href="https://example.org">ok</a>' in html
    assert "<script>" not in html and "&lt;script&gt;" in html and 'href="javascript:' not in html
    listed = world.call("GET", "/api/projects", as_="anonymous").json()
    assert [p["slug"] for p in listed["items"]] == ["alpha", "beta"]


def test_project_input_is_checked(world):
    assert_error(
        world.call("POST", "/api/projects", as_="admin", json={"slug": "Bad Slug", "name": "x", "org": "o"}), 422
    )
    assert_error(world.call("PATCH", "/api/projects/alpha", as_="admin", json={"status": "finished"}), 422)
    assert_error(
        world.call("POST", "/api/projects", as_="admin", json={"slug": "alpha", "name": "x", "org": "o"}),
        409,
        "ALREADY_EXISTS",
    )
    assert_error(world.call("GET", "/api/projects/nope", as_="anonymous"), 404, "PROJECT_NOT_FOUND")


def test_workspaces(world):
    body = {
        "name": "alpha-sample",
        "repo": world.repo.url,
        "branch": "main",
        "database": "sample",
        "site_id": "site-b",
        "purpose": "a sample run",
    }
    created = world.call("POST", "/api/projects/alpha/workspaces", json=body)
    assert created.status_code == 201, created.text
    workspace = created.json()
    assert workspace["project"] == "alpha" and workspace["database"] == "sample" and workspace["site_id"] == "site-b"
    assert workspace["archived"] is False and workspace["created_by"] == "developer"
    names = [w["name"] for w in world.call("GET", "/api/projects/alpha/workspaces", as_="anonymous").json()["items"]]
    assert names == ["alpha-main", "alpha-sample"]
    # names are unique across projects; the site must exist; the database is full or sample
    assert_error(world.call("POST", "/api/projects/alpha/workspaces", json=body), 409, "ALREADY_EXISTS")
    assert_error(
        world.call("POST", "/api/projects/alpha/workspaces", json={**body, "name": "x1", "site_id": "nowhere"}),
        404,
        "SITE_NOT_FOUND",
    )
    assert_error(
        world.call("POST", "/api/projects/alpha/workspaces", json={**body, "name": "x2", "database": "big"}), 422
    )
    assert_error(world.call("POST", "/api/projects/alpha/workspaces", json={**body, "name": "../x"}), 422)
    archived = world.call("PATCH", "/api/workspaces/alpha-sample", json={"archived": True})
    assert archived.status_code == 200 and archived.json()["archived"] is True


def test_members_and_people(world):
    members = world.call("GET", "/api/projects/alpha/members", as_="anonymous").json()["items"]
    assert {(m["user_id"], tuple(m["roles"])) for m in members} == {
        ("collaborator", ("ProjectCollaborator",)),
        ("developer", ("ProjectDeveloper",)),
    }
    me = world.call("GET", "/api/me", as_="developer").json()
    assert me == {
        "username": "developer",
        "email": "developer@example.org",
        "roles": [],
        "is_admin": False,
        "memberships": {"alpha": ["ProjectDeveloper"]},
    }
    # someone else's email is private; roles are not
    seen = world.call("GET", "/api/people/checker", as_="developer").json()
    assert seen["email"] is None and seen["roles"] == ["OutputChecker"]
    assert world.call("GET", "/api/people/checker", as_="admin").json()["email"] == "checker@example.org"
    # a new member gets the developer's powers at once
    assert (
        world.call(
            "PUT", "/api/projects/alpha/members/checker", as_="admin", json={"roles": ["ProjectDeveloper"]}
        ).status_code
        == 200
    )
    assert (
        world.call("PATCH", "/api/workspaces/alpha-main", as_="checker", json={"purpose": "checked"}).status_code == 200
    )
    assert_error(
        world.call("PUT", "/api/projects/alpha/members/nobody", as_="admin", json={"roles": ["ProjectDeveloper"]}),
        404,
        "USER_NOT_FOUND",
    )
    assert_error(world.call("PUT", "/api/projects/alpha/members/checker", as_="admin", json={"roles": ["Owner"]}), 422)
    assert_error(world.call("DELETE", "/api/projects/alpha/members/nobody", as_="admin"), 404)
    assert_error(
        world.call("POST", "/api/people", as_="admin", json={"username": "developer", "password": "long enough"}),
        409,
        "ALREADY_EXISTS",
    )
    assert_error(world.call("PATCH", "/api/people/developer", as_="developer", json={"email": "not an email"}), 422)
    # a bad token is refused, never treated as anonymous
    response = world.call("GET", "/api/projects", as_="anonymous", headers={"Authorization": "Bearer nonsense"})
    assert_error(response, 401)


def test_workspace_repositories_and_branches_git_would_misread_are_refused(world):
    base = {"repo": world.repo.url, "branch": "main", "site_id": "site-a"}
    for number, (field, value, code) in enumerate(
        [
            ("repo", "ext::sh -c touch% /tmp/pwned", "INVALID_REPO_URL"),
            ("repo", "--upload-pack=touch /tmp/pwned", "INVALID_REPO_URL"),
            ("repo", "relative/path", "INVALID_REPO_URL"),
            ("branch", "--orphan", "INVALID_BRANCH"),
            ("branch", "a..b", "INVALID_BRANCH"),
        ]
    ):
        body = {**base, "name": f"bad-{number}", field: value}
        assert_error(world.call("POST", "/api/projects/alpha/workspaces", json=body), 422, code)
    assert_error(world.call("PATCH", "/api/workspaces/alpha-main", json={"branch": "-x"}), 422, "INVALID_BRANCH")
    names = [w["name"] for w in world.call("GET", "/api/projects/alpha/workspaces").json()["items"]]
    assert names == ["alpha-main"]
