"""Tick time of the site's new-objects and claim sensors, called directly (dg.build_sensor_context)
against a live `orchestrator runtime serve`, with an empty history and with N historical objects and
succeeded jobs bulk-inserted; ticks alternate between the two runtimes so machine load hits both alike."""

import argparse
import os
import shutil
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _site import (
    RuntimeServer,
    SetupError,
    admin_client,
    bootstrap_runtime,
    median,
    runtime_database,  # noqa: E402
    table,
    terminate_on_sigterm,
)
from sqlalchemy import insert, select, text, update  # noqa: E402

from orchestrator.runtime import schema as s  # noqa: E402
from orchestrator.runtime.db import is_sqlite, make_engines  # noqa: E402
from orchestrator.runtime.schema import utcnow  # noqa: E402

TARGET_RATIO, TARGET_TICK_S = 1.5, 0.5
SITE_ID, SLOTS, CHUNK = "bench-site", 8, 5000
OBJECT_TYPE, WORKFLOW_ID = "metadata-in", "metadata-in-1.0.0"  # the repository's own trigger and workflow


# ------------------------------------------------------------------ rows, straight into the runtime's tables
def object_rows(first_seq: int, count: int, now) -> tuple[list[dict], list[dict]]:
    objects, links = [], []
    for seq in range(first_seq, first_seq + count):
        sha = f"{seq:064x}"
        objects.append(
            {
                "seq": seq,
                "id": f"obj-{seq:020x}",
                "name": f"study-{seq}.json",
                "description": "",
                "types": [OBJECT_TYPE],
                "size": 100,
                "sha256": sha,
                "checksums": [{"type": "sha256", "checksum": sha}],
                "mime_type": "application/json",
                "site_id": None,
                "created_by": "user:bench-admin",
                "created_time": now,
            }
        )
        links.append({"type_id": OBJECT_TYPE, "object_seq": seq})
    return objects, links


def add_objects(engine, count: int) -> int:
    """Insert `count` objects after the last one (advancing the `objects` counter as the store does); returns the new last seq."""
    now = utcnow()
    with engine.begin() as conn:
        last = conn.execute(select(s.counters.c.value).where(s.counters.c.name == "objects")).scalar_one()
        for start in range(0, count, CHUNK):
            objects, links = object_rows(last + 1 + start, min(CHUNK, count - start), now)
            conn.execute(insert(s.objects), objects)
            conn.execute(insert(s.object_type_links), links)
        conn.execute(update(s.counters).where(s.counters.c.name == "objects").values(value=last + count))
    return last + count


def add_history(engine, count: int) -> None:
    """`count` objects, and for each a succeeded job with its done operation, as a long-lived site leaves them."""
    add_objects(engine, count)
    now = utcnow()
    with engine.begin() as conn:
        for start in range(1, count + 1, CHUNK):
            seqs = range(start, min(start + CHUNK, count + 1))
            conn.execute(
                insert(s.jobs),
                [
                    {
                        "id": f"job-h{seq:022x}",
                        "workflow_id": WORKFLOW_ID,
                        "inputs": [f"obj-{seq:020x}"],
                        "config": {"schema": "study-metadata"},
                        "status": "succeeded",
                        "attempts": 0,
                        "max_attempts": 3,
                        "operation_id": f"op-h{seq:017x}",
                        "created_by": f"site:{SITE_ID}",
                        "created_at": now,
                        "updated_at": now,
                    }
                    for seq in seqs
                ],
            )
            conn.execute(
                insert(s.operations),
                [
                    {
                        "id": f"op-h{seq:017x}",
                        "job_id": f"job-h{seq:022x}",
                        "site_id": SITE_ID,
                        "done": True,
                        "result": {"valid": True},
                        "error": None,
                        "metadata": {"step": "done"},
                        "lease_expires_at": now + timedelta(seconds=60),
                        "lease_seconds": 60,
                        "cancel_requested": False,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for seq in seqs
                ],
            )


def add_open_jobs(engine, count: int, tag: str) -> None:
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(
            insert(s.jobs),
            [
                {
                    "id": f"job-open-{tag}-{i}",
                    "workflow_id": WORKFLOW_ID,
                    "inputs": [],
                    "config": {"schema": "study-metadata"},
                    "status": "open",
                    "attempts": 0,
                    "max_attempts": 3,
                    "operation_id": None,
                    "created_by": "user:bench-admin",
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(count)
            ],
        )


# ------------------------------------------------------------------ one runtime with its sensors
class Scenario:
    """A runtime (its own database and server) with `history` old objects/jobs, and the two sensors bound to it."""

    def __init__(self, stack: ExitStack, backend: str, history: int, workdir: Path, analyze: bool):
        from dagster import DagsterInstance

        from orchestrator.catalog import register_catalog
        from orchestrator.resources import RuntimeResource, SiteResource
        from orchestrator.sensors import make_claim_sensor, make_new_objects_sensor
        from orchestrator.workflows import WORKFLOWS
        from orchestrator.workflows.triggers import load_triggers

        self.backend, self.history = backend, history
        home = workdir / f"{backend}-{history}"
        home.mkdir()
        url = stack.enter_context(runtime_database(backend, home, f"bench_tick_{history}"))
        server = stack.enter_context(RuntimeServer(url, home, home / "runtime.log"))
        admin, site = bootstrap_runtime(url, home, SITE_ID)
        triggers = load_triggers()
        register_catalog(admin_client(server.url, admin), triggers)
        self.engine = make_engines(url)[0]
        stack.callback(self.engine.dispose)
        if history:
            t0 = time.perf_counter()
            add_history(self.engine, history)
            if analyze and not is_sqlite(url):
                with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                    conn.execute(text("ANALYZE"))
            print(
                f"  {backend}: inserted {history:,} objects, jobs and operations in {time.perf_counter() - t0:.1f} s",
                flush=True,
            )
        self.last_seq = add_objects(self.engine, 0)
        self.instance = stack.enter_context(DagsterInstance.ephemeral())  # no runs: every slot is free
        self.resources = {
            "runtime": RuntimeResource(
                url=server.url, client_id=site["client_id"], client_secret=site["client_secret"]
            ),
            "site": SiteResource(site_id=SITE_ID, max_runs_per_workflow=SLOTS),
        }
        self.new_objects = make_new_objects_sensor(triggers, 1)
        self.claim = make_claim_sensor(WORKFLOWS[WORKFLOW_ID], 1)
        self.server = server
        self.times = {"new_objects": [], "claim": []}
        self.cpu = {"new_objects": [0.0, 0.0], "claim": [0.0, 0.0]}  # CPU seconds of [this process, the API server]
        self.ticks = 0

    def timed(self, name: str, sensor, context, record: bool):
        """Call the sensor; wall time, and (when recorded) CPU used by this process and by the API server."""
        server0, own0, t0 = self.server.cpu_seconds(), time.process_time(), time.perf_counter()
        result = sensor(context)
        elapsed = time.perf_counter() - t0
        if record:
            self.cpu[name][0] += time.process_time() - own0
            self.cpu[name][1] += self.server.cpu_seconds() - server0
        return result, elapsed

    def tick_new_objects(self, new: int, record: bool) -> None:
        import dagster as dg

        cursor = self.last_seq  # the cursor is at the end of history; `new` objects arrive
        self.last_seq = add_objects(self.engine, new)
        context = dg.build_sensor_context(instance=self.instance, cursor=str(cursor), resources=self.resources)
        result, elapsed = self.timed("new_objects", self.new_objects, context, record)
        expected = f"{new} new object(s): {new} job(s) created"
        message = getattr(result.skip_reason, "skip_message", None) or ""
        if result.cursor != str(self.last_seq) or not message.startswith(expected):
            raise SetupError(
                f"new_objects tick on {self.backend}/{self.history}: cursor {result.cursor}, "
                f"{message!r}; expected cursor {self.last_seq}, {expected!r}"
            )
        if record:
            self.times["new_objects"].append(elapsed)

    def tick_claim(self, open_jobs: int, record: bool) -> None:
        import dagster as dg

        self.ticks += 1
        add_open_jobs(self.engine, open_jobs, str(self.ticks))
        context = dg.build_sensor_context(instance=self.instance, resources=self.resources)
        result, elapsed = self.timed("claim", self.claim, context, record)
        requests = getattr(result, "run_requests", None) or []
        if len(requests) != min(open_jobs, SLOTS):
            raise SetupError(
                f"claim tick on {self.backend}/{self.history}: {len(requests)} run requests, expected "
                f"{min(open_jobs, SLOTS)} ({getattr(result, 'skip_message', result)})"
            )
        if record:
            self.times["claim"].append(elapsed)
        with self.engine.begin() as conn:  # the runs "finished": nothing stays claimed for the next tick
            conn.execute(update(s.jobs).where(s.jobs.c.status == "claimed").values(status="succeeded"))
            conn.execute(update(s.operations).where(s.operations.c.done.is_(False)).values(done=True, result={}))


def ms(values) -> str:
    return " ".join(f"{v * 1000:.0f}" for v in values)


def run_backend(backend: str, args, workdir: Path) -> list[list]:
    print(f"{backend}: runtimes with 0 and {args.history:,} historical objects/jobs ...", flush=True)
    with ExitStack() as stack:
        empty = Scenario(stack, backend, 0, workdir, not args.no_analyze)
        full = Scenario(stack, backend, args.history, workdir, not args.no_analyze)
        pair = (empty, full)
        for i in range(args.warmup + args.ticks):  # alternate, so load from elsewhere lands on both
            for scenario in pair if i % 2 == 0 else pair[::-1]:
                scenario.tick_claim(args.open_jobs, record=i >= args.warmup)
        for i in range(args.warmup + args.ticks):
            for scenario in pair if i % 2 == 0 else pair[::-1]:
                scenario.tick_new_objects(args.new_objects, record=i >= args.warmup)
        rows = []
        for sensor, what in (
            ("new_objects", f"{args.new_objects} new objects"),
            ("claim", f"{args.open_jobs} open jobs"),
        ):
            for scenario in pair:
                values = scenario.times[sensor]
                print(f"  {backend} {sensor:<11} history {scenario.history:>7,}: ticks ms  {ms(values)}")
            m0, m1 = median(empty.times[sensor]), median(full.times[sensor])
            worst = max(empty.times[sensor] + full.times[sensor])
            cpu = [f"{1000 * c / len(sc.times[sensor]):.0f}" for sc in pair for c in sc.cpu[sensor]]
            rows.append(
                [
                    backend,
                    f"{sensor} ({what})",
                    f"{m0 * 1000:.0f}",
                    f"{m1 * 1000:.0f}",
                    f"{m1 / m0:.2f}",
                    "met" if m1 / m0 <= TARGET_RATIO else "NOT met",
                    f"{worst * 1000:.0f}",
                    "met" if worst < TARGET_TICK_S else "NOT met",
                    f"{cpu[0]} / {cpu[2]}",
                    f"{cpu[1]} / {cpu[3]}",
                ]
            )
        return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--history", "--objects", type=int, default=100_000, help="historical objects and jobs (default 100,000)"
    )
    parser.add_argument("--ticks", type=int, default=20, help="measured ticks per sensor and history (default 20)")
    parser.add_argument("--warmup", type=int, default=2, help="unmeasured first ticks (token fetch, connections)")
    parser.add_argument("--new-objects", type=int, default=10, help="objects arriving before each new-objects tick")
    parser.add_argument(
        "--open-jobs", type=int, default=SLOTS, help=f"open jobs before each claim tick (default {SLOTS})"
    )
    parser.add_argument("--backends", default="postgres,sqlite", help="comma-separated: postgres,sqlite")
    parser.add_argument("--no-analyze", action="store_true", help="skip ANALYZE after the PostgreSQL bulk insert")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (server logs, SQLite files)")
    args = parser.parse_args()
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if not backends or set(backends) - {"postgres", "sqlite"}:
        parser.error("--backends takes postgres and/or sqlite")
    terminate_on_sigterm()
    workdir = Path(tempfile.mkdtemp(prefix="bench-tick-"))
    print(
        f"sensor ticks: {args.ticks} measured (+{args.warmup} warm-up) per sensor, history 0 vs {args.history:,}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    try:
        rows = []
        for backend in backends:
            rows += run_backend(backend, args, workdir)
        print(
            "\n"
            + table(
                [
                    "backend",
                    "sensor",
                    "p50 ms @0",
                    f"p50 ms @{args.history:,}",
                    "ratio",
                    f"ratio <= {TARGET_RATIO}",
                    "max tick ms",
                    f"every tick < {TARGET_TICK_S * 1000:.0f} ms",
                    "sensor CPU ms @0/@N",
                    "API CPU ms @0/@N",
                ],
                rows,
            )
        )
        print(
            f"(load average now {os.getloadavg()[0]:.1f}. Ticks call the sensor functions in this process over HTTP to a "
            f"real `orchestrator runtime serve`; CPU columns are means per tick: this process running the sensor, and the "
            f"API server (not PostgreSQL's own backends). Wall times on a loaded machine inflate; CPU times much less.)"
        )
        return 0
    except SetupError as exc:
        print(f"\nsetup failed: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted; cleaning up", file=sys.stderr)
        return 130
    finally:
        if args.keep:
            print(f"(kept {workdir})")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
