"""Brings the jobs site's tables to their newest schema with Alembic, beside (never inside) the runtime's:
its own script directory and version table (`jobsite_alembic_version`, set in migrations/env.py)."""

from pathlib import Path

from sqlalchemy import Engine

from orchestrator.runtime import migrate as runtime_migrate

MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "jobsite_alembic_version"


def alembic_config(connection):
    return runtime_migrate.alembic_config(connection, MIGRATIONS)


def upgrade(engine: Engine) -> None:
    runtime_migrate.upgrade(engine, MIGRATIONS)
