"""Alembic environment: runs on the connection `migrate.upgrade` hands over (never a URL of its own)."""

from alembic import context

from orchestrator.runtime.schema import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    # Other layers (the jobs site) keep their own tables in the same database, under their own migrations.
    include_name=lambda name, type_, _parent: type_ != "table" or name in metadata.tables,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER most things in place
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
