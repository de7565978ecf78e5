"""What every part of the store shares: engines, transactions, row conversion and cursor pages."""

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Table, select, text, update

from orchestrator.runtime import schema
from orchestrator.runtime.db import Engines
from orchestrator.runtime.errors import Conflict
from orchestrator.runtime.models import Page
from orchestrator.settings import Settings

MAX_PAGE = 1000
T = TypeVar("T")


class StoreBase(Engines):
    def __init__(self, settings: Settings):
        self.settings = settings
        super().__init__(settings.database_url)

    def ping(self) -> str:
        """One round trip to the database (for /healthz); the backend's name."""
        with self.read() as conn:
            conn.execute(text("SELECT 1"))
        return self.writer.dialect.name

    def page(
        self,
        table: Table,
        to_model: Callable[[Any], T],
        after_seq: int,
        limit: int,
        *where,
        before_seq: int | None = None,
    ) -> Page[T]:
        """One page of `table` in seq order after `after_seq` -- or, with `before_seq`, newest first below it:
        an index range scan either way, never a history scan."""
        limit = max(1, min(limit, MAX_PAGE))
        query = select(table).where(*seq_range(table.c.seq, after_seq, before_seq), *where)
        query = query.order_by(table.c.seq.desc() if before_seq is not None else table.c.seq).limit(limit + 1)
        with self.read() as conn:
            rows = conn.execute(query).all()
        return make_page(rows, limit, to_model, newest_first=before_seq is not None)


def take_seqs(conn, counter: str, n: int = 1) -> range:
    """The next `n` seqs of a counter row (objects, metadata_documents). The row stays locked until the
    transaction commits, so rows become visible in seq order and a cursor over them never passes one
    that commits later."""
    counters = schema.counters
    last = conn.execute(
        update(counters)
        .where(counters.c.name == counter)
        .values(value=counters.c.value + n)
        .returning(counters.c.value)
    ).scalar_one()
    return range(last - n + 1, last + 1)


def seq_range(seq, after_seq: int, before_seq: int | None) -> list:
    return [seq > after_seq] + ([seq < before_seq] if before_seq is not None else [])


def make_page(rows: list, limit: int, to_model: Callable[[Any], T | None], newest_first: bool = False) -> Page[T]:
    """`rows` were fetched with limit + 1, so one extra row means there is a next page. A row that cannot
    be read at all (to_model gives None, logged) is left out; the cursor still moves past it."""
    items = [item for item in map(to_model, rows[:limit]) if item is not None]
    cursor = rows[limit - 1].seq if len(rows) > limit else None
    return Page(items=items, next_before_seq=cursor) if newest_first else Page(items=items, next_after_seq=cursor)


def found(item: T | None, kind: str, id_: str) -> T:
    """A single item read by id; None means its stored row cannot be read even with markers (see rows.py)."""
    if item is None:
        raise Conflict(
            "UNREADABLE_RECORD",
            f"The stored {kind} {id_!r} cannot be read; an administrator must repair or delete it.",
            {"id": id_},
        )
    return item
