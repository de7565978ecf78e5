"""Alembic migrations build exactly the schema the code declares, on both backends."""

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, inspect, select, table

from orchestrator.runtime import migrate
from orchestrator.runtime.errors import Unauthenticated
from orchestrator.runtime.models import SiteCreate
from orchestrator.runtime.schema import metadata


def test_migrated_schema_matches_declared_tables(store):
    with store.writer.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), metadata)
    assert diff == []


def test_upgrade_is_idempotent_and_records_head(store):
    migrate.upgrade(store.writer)  # already at head: a no-op, not an error
    with store.writer.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == "0002"
        assert {"jobs", "operations", "objects", "tokens"} <= set(inspect(conn).get_table_names())


def test_a_database_at_0001_with_rows_upgrades_to_head(store):
    """0002 adds login_failures; a database written at 0001 keeps its rows and gets working login limits."""
    with store.writer.begin() as conn:
        command.downgrade(migrate.alembic_config(conn), "0001")
    assert "login_failures" not in inspect(store.writer).get_table_names()
    store.create_user("bob", "right")
    store.create_site(SiteCreate(id="site-a", capability_ids=["py"]))
    creds = store.generate_credentials("site-a")
    token = store._issue("site", "site-a", creds.client_id).access_token  # POST /token needs 0002 already
    with store.read() as conn:
        before = {
            t: conn.execute(select(func.count()).select_from(table(t))).scalar()
            for t in ("users", "sites", "site_clients", "tokens")
        }
    migrate.upgrade(store.writer)
    with store.writer.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == "0002"
    with store.read() as conn:
        assert {t: conn.execute(select(func.count()).select_from(table(t))).scalar() for t in before} == before
    assert store.authenticate(token).id == "site-a"
    with pytest.raises(Unauthenticated):
        store.token_for_user("bob", "wrong")
    with store.read() as conn:
        assert conn.execute(select(func.count()).select_from(table("login_failures"))).scalar() == 3
    assert store.token_for_user("bob", "right").access_token
