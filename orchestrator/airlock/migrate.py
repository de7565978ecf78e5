"""Brings the airlock's database to its newest schema with Alembic: its own script directory and
version table (`airlock_alembic_version`, set in migrations/env.py)."""

from pathlib import Path

from sqlalchemy import Engine

from orchestrator.runtime import migrate as runtime_migrate

MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "airlock_alembic_version"


def alembic_config(connection):
    return runtime_migrate.alembic_config(connection, MIGRATIONS)


def upgrade(engine: Engine) -> None:
    runtime_migrate.upgrade(engine, MIGRATIONS)
