"""Brings a runtime database to the newest schema with Alembic (used by `Store.open` and tests)."""

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(connection, migrations: Path = MIGRATIONS) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations))
    config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine, migrations: Path = MIGRATIONS) -> None:
    """To head; `migrations` is another layer's own script directory (the jobs site's), if not the runtime's."""
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection, migrations), "head")
