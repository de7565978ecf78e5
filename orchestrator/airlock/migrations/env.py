"""Alembic environment of the airlock: its own version table, and only its own tables compared."""

from alembic import context

from orchestrator.airlock.migrate import VERSION_TABLE
from orchestrator.airlock.schema import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    include_name=lambda name, type_, _parent: type_ != "table" or name in metadata.tables,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
