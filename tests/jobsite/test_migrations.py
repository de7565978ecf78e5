"""The jobs site's revisions upgrade a database made at the previous head, rows and all, on both backends."""

from alembic import command
from alembic.migration import MigrationContext
from sqlalchemy import func, inspect, select, table

from orchestrator.jobsite import migrate
from orchestrator.jobsite.models import MembershipSet, PersonCreate, ProjectCreate, ProjectRole, WorkspaceCreate
from orchestrator.jobsite.permissions import Actor

HEAD = "0003"
ADMIN = Actor(user_id="admin", is_admin=True)


def revision(store) -> str:
    with store.writer.connect() as conn:
        return MigrationContext.configure(conn, opts={"version_table": migrate.VERSION_TABLE}).get_current_revision()


def test_a_jobsite_database_at_0001_with_rows_upgrades_to_head(store, jobsite, repo):
    with store.writer.begin() as conn:
        command.downgrade(migrate.alembic_config(conn), "0001")
    assert revision(store) == "0001" and "login_tokens" not in inspect(store.writer).get_table_names()
    store.create_user("admin", "admin-password", is_admin=True)
    jobsite.create_project(ProjectCreate(slug="alpha", name="Alpha", org="Org"), ADMIN)
    jobsite.create_person(PersonCreate(username="dev", password="dev-password", email="dev@example.org"), ADMIN)
    jobsite.set_membership("alpha", "dev", MembershipSet(roles=[ProjectRole.DEVELOPER]), ADMIN)
    developer = jobsite.actor_for("dev")
    jobsite.create_workspace(
        "alpha", WorkspaceCreate(name="alpha-main", repo=repo.url, branch="main", site_id="site-a"), developer
    )
    tables = ("projects", "people", "memberships", "workspaces")
    with store.read() as conn:
        before = {name: conn.execute(select(func.count()).select_from(table(name))).scalar() for name in tables}

    migrate.upgrade(store.writer)
    assert revision(store) == HEAD
    with store.read() as conn:
        assert {name: conn.execute(select(func.count()).select_from(table(name))).scalar() for name in tables} == before
    assert jobsite.get_workspace("alpha-main").project == "alpha"
    assert len(jobsite.create_login_token(developer).token.split()) == 3  # the new table works
