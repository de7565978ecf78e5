"""The floor under the runtime's claims: the same claim statement the store runs on PostgreSQL, sent
straight through psycopg2 by the same number of processes, with no HTTP, token check or capability
facts. What the API reaches beside it is the cost of being an API."""

import multiprocessing as mp
import queue
import re
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from _common import SetupError, postgres_database

from orchestrator.runtime import security
from orchestrator.runtime.store.jobs import _CLAIM_OLDEST_PG  # the claim of jobs without a share, as the bench makes


@dataclass
class Floor:
    claims: int
    wall_s: float
    duplicates: int

    @property
    def claims_per_s(self) -> float:
        return self.claims / self.wall_s if self.wall_s else 0.0


def _psycopg2_sql() -> str:
    # SQLAlchemy's :name parameters as psycopg2's %(name)s; `::type` casts stay as they are.
    return re.sub(r"(?<![:\w]):(\w+)", r"%(\1)s", _CLAIM_OLDEST_PG.element.text)


def _claimer(dsn: str, workflow_id: str, site_id: str, max_jobs: int, ready, start, results) -> None:
    import psycopg2

    from orchestrator.runtime.schema import utcnow

    conn = psycopg2.connect(dsn)
    cursor, sql, claimed = conn.cursor(), _psycopg2_sql(), 0
    ready.put(site_id)
    start.wait()
    while True:
        now = utcnow().replace(tzinfo=None)  # the store keeps naive UTC
        cursor.execute(
            sql,
            {
                "workflow_id": workflow_id,
                "site_id": site_id,
                "max_jobs": max_jobs,
                "op_ids": [security.new_id("op") for _ in range(max_jobs)],
                "now": now,
                "lease_end": now,
                "lease_seconds": 3600,
                "claim_token": None,
            },
        )
        rows = cursor.fetchall()
        conn.commit()
        if not rows:
            break
        claimed += len(rows)
    results.put((claimed, time.monotonic()))
    conn.close()


def sql_floor(admin_url: str, jobs: int, claimers: int, max_jobs: int, populate, verify) -> Floor:
    """`jobs` open jobs in a fresh database, claimed by `claimers` processes in plain SQL."""
    from orchestrator.runtime.store import Store
    from orchestrator.settings import Settings

    with ExitStack() as stack:
        url = stack.enter_context(postgres_database(admin_url, "bench_claims_sql"))
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="bench_claims_sql_"))
        store = Store.open(Settings(database_url=url, blob_dir=Path(tmp) / "blobs"))
        stack.callback(store.dispose)
        populate(store, jobs, claimers, "bulk")
        dsn = url.replace("postgresql+psycopg2://", "postgresql://", 1)
        ctx = mp.get_context("spawn")
        ready, start, results = ctx.Queue(), ctx.Event(), ctx.Queue()
        procs = [
            ctx.Process(
                target=_claimer, args=(dsn, "bench-wf", f"bench-site-{i}", max_jobs, ready, start, results), daemon=True
            )
            for i in range(claimers)
        ]
        for proc in procs:
            proc.start()
        for _ in procs:  # connected, before the clock starts
            try:
                ready.get(timeout=120)
            except queue.Empty:
                raise SetupError("the SQL claimer processes did not connect within 120s") from None
        began = time.monotonic()
        start.set()
        outs = []
        while len(outs) < len(procs):
            try:
                outs.append(results.get(timeout=1))
            except queue.Empty:
                if not any(p.is_alive() for p in procs) and results.empty():
                    raise SetupError("an SQL claimer process died without reporting") from None
        for proc in procs:
            proc.join(5)
        facts = verify(store)
        return Floor(sum(n for n, _ in outs), max(t for _, t in outs) - began, facts["duplicates"])
