"""Alembic migrations build exactly the schema the code declares, on both backends."""
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from orchestrator.runtime import migrate
from orchestrator.runtime.schema import metadata


def test_migrated_schema_matches_declared_tables(store):
    with store.writer.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), metadata)
    assert diff == []


def test_upgrade_is_idempotent_and_records_head(store):
    migrate.upgrade(store.writer)  # already at head: a no-op, not an error
    with store.writer.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == "0001"
        assert {"jobs", "operations", "objects", "tokens"} <= set(inspect(conn).get_table_names())
