"""Looking at the SQL the store runs: capture the statements an engine executes, and ask the database
for its plan of one, to show that a request is an index range scan rather than a history scan."""

from contextlib import contextmanager

from sqlalchemy import Engine, event, text


@contextmanager
def captured_sql(engine: Engine):
    """Every (statement, parameters) `engine` executes inside the block (on PostgreSQL the store's reader
    and writer are the same engine)."""
    statements = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", capture)


def is_postgres(store) -> bool:
    return store.writer.dialect.name == "postgresql"


def analyze(store, table: str) -> None:
    """Refresh the planner's statistics, as a database in use has them."""
    with store.writer.connect() as conn:
        conn.execute(text(f"ANALYZE {table}" if is_postgres(store) else "ANALYZE"))
        conn.commit()


def plan_of(store, sql: str, params) -> str:
    with store.writer.connect() as conn:
        if is_postgres(store):
            return "\n".join(conn.exec_driver_sql("EXPLAIN " + sql, params).scalars())
        return "\n".join(row[-1] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params))
