"""Changesheet rows applied per second, against a plain UPDATE loop, in one run, on SQLite and PostgreSQL:
10,000 biosample documents ingested, then a 10,000-row changesheet (one `update` per document) checked
and applied by the store -- parse, lock and re-read, apply, JSON Schema validation of each changed
document, one write per document -- beside the same 10,000 new documents written by a bare executemany
UPDATE in one transaction (no parsing, no validation: the floor). Targets are printed, not asserted.

    .venv/bin/python bench/changesheets.py [--rows 10000] [--backends sqlite,postgresql]
"""

import argparse
import hashlib
import json
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from _common import SetupError, postgres_admin_url, postgres_database
from sqlalchemy import bindparam, update

from orchestrator.runtime import schema as s
from orchestrator.runtime.models import ApplyChangesheet, IngestRequest, ObjectCreate, ObjectType, Principal
from orchestrator.runtime.store import Store
from orchestrator.settings import Settings

TARGET_ROWS_PER_S = 2000
# The changesheet's time over the bare UPDATE loop's: it also parses, locks and re-reads, and checks each changed
# document against the JSON Schema, which the floor does not; within 20x of a bare write is the goal.
TARGET_RATIO = 20
ADMIN = Principal(kind="user", id="bench", is_admin=True)


def put(store: Store, data: bytes, name: str, kind: str):
    checksum = {"type": "sha256", "checksum": hashlib.sha256(data).hexdigest()}
    return store.put_object(ObjectCreate(name=name, types=[kind], size=len(data), checksums=[checksum]), data, ADMIN)


def run_backend(url: str, home: Path, rows: int) -> dict:
    store = Store.open(Settings(database_url=url, home=home, blob_dir=home / "blobs"))
    try:
        for kind in ("docset", "metadata-changesheet"):
            store.put_object_type(ObjectType(id=kind, name=kind))
        samples = [
            {
                "id": f"nmdc:bsm-{i}",
                "associated_studies": ["nmdc:sty-1"],
                "env_medium": "soil",
                "collection_date": "2024-05-14",
            }
            for i in range(rows)
        ]
        began = time.perf_counter()
        store.ingest(
            IngestRequest(object_id=put(store, json.dumps({"biosample_set": samples}).encode(), "set", "docset").id),
            ADMIN,
        )
        ingest_s = time.perf_counter() - began
        sheet = "id\taction\tattribute\tvalue\n" + "".join(
            f"nmdc:bsm-{i}\tupdate\tdepth_m\t{i % 50}\n" for i in range(rows)
        )
        data = sheet.encode()
        began = time.perf_counter()
        check = store.check_changesheet(data, "study-metadata")
        check_s = time.perf_counter() - began
        assert check.valid, check.problems[:3]
        sheet_object = put(store, data, "sheet.tsv", "metadata-changesheet")
        began = time.perf_counter()
        result = store.apply_changesheet(ApplyChangesheet(object_id=sheet_object.id), ADMIN)
        apply_s = time.perf_counter() - began
        assert len(result.changes) == rows
        # The floor: the same documents, changed again, written by a bare executemany UPDATE.
        new = [{"c": "biosample_set", "i": c.id, "d": {**c.after, "depth_m": 1}} for c in result.changes]
        t = s.metadata_documents
        began = time.perf_counter()
        with store.write() as conn:
            conn.execute(
                update(t)
                .where(t.c.collection == bindparam("c"), t.c.id == bindparam("i"))
                .values(document=bindparam("d"), version=t.c.version + 1),
                new,
            )
        update_s = time.perf_counter() - began
        return {"ingest_s": ingest_s, "check_s": check_s, "apply_s": apply_s, "update_s": update_s}
    finally:
        store.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="bench-changesheets-") as temp:
        for backend in args.backends.split(","):
            home = Path(temp) / backend
            home.mkdir()
            if backend == "sqlite":
                url = f"sqlite:///{home / 'runtime.db'}"
            else:
                try:
                    url = stack.enter_context(postgres_database(postgres_admin_url(), "bench_changesheets"))
                except SetupError as exc:
                    raise SystemExit(str(exc)) from None
            r = run_backend(url, home, args.rows)
            rate = args.rows / r["apply_s"]
            ratio = r["apply_s"] / r["update_s"]
            print(f"\n{backend}: {args.rows} documents, a {args.rows}-row changesheet (one update each)")
            print(
                f"  ingest the documents:         {r['ingest_s']:.2f} s ({args.rows / r['ingest_s']:,.0f} documents/s)"
            )
            print(f"  check the changesheet:        {r['check_s']:.2f} s")
            print(
                f"  apply it:                     {r['apply_s']:.2f} s = {rate:,.0f} rows/s   "
                f"(target >= {TARGET_ROWS_PER_S:,}/s: {'met' if rate >= TARGET_ROWS_PER_S else 'NOT met'})"
            )
            print(f"  plain UPDATE loop, same rows: {r['update_s']:.2f} s = {args.rows / r['update_s']:,.0f} rows/s")
            print(
                f"  ratio changesheet/UPDATE:     {ratio:.1f}   "
                f"(target <= {TARGET_RATIO}: {'met' if ratio <= TARGET_RATIO else 'NOT met'})"
            )


if __name__ == "__main__":
    main()
