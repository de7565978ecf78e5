"""Claim throughput of the central runtime: N open jobs, M concurrent site processes claiming them
over HTTP from a real `orchestrator runtime serve`, on PostgreSQL and on SQLite; reports claims/s,
409s, p50/p99 claim latency, and checks in the database that no job was claimed twice."""

import argparse
import multiprocessing as mp
import os
import queue
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from array import array
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from _common import (
    RuntimeServer,
    SetupError,
    cpu_by_pid,
    cpu_seconds,
    interrupts_deferred,
    machine_cpu,
    percentile,
    postgres_admin_url,
    postgres_database,
)
from _sql_floor import sql_floor

from orchestrator.runtime.client import Credentials, RuntimeClient, RuntimeClientError

TARGET_PG_CLAIMS_PER_S = 400  # one-job claims, one server worker (issue 13)
WORKFLOW_ID, CAPABILITY, OBJECT_TYPE = "bench-wf", "bench", "bench-doc"
MAX_CONSECUTIVE_ERRORS = 50
LEASE_SECONDS = 3600  # the longest the API allows: no lease may expire (and reopen its job) during a run
DEFAULT_SERVER_WORKERS = "1"


# ------------------------------------------------------------------ claimer processes (spawned)
class ErrorStreak:
    """A claimer's consecutive errors (a lost race is not one); past MAX_CONSECUTIVE_ERRORS it gives up."""

    def __init__(self, out: dict):
        self.out, self.count = out, 0

    def ok(self) -> None:
        self.count = 0

    def failed(self, what: str, exc: RuntimeClientError) -> bool:
        """Count the error; True once the claimer should give up (recorded in out["gave_up"])."""
        self.out["errors"][f"{what} {exc.status} {exc.code}"] += 1
        self.count += 1
        if self.count > MAX_CONSECUTIVE_ERRORS:
            self.out["gave_up"] = f"{self.count} errors in a row, last: {exc}"
            return True
        return False


def claim_next_until_empty(client: RuntimeClient, out: dict, max_jobs: int, deadline: float) -> bool:
    """POST /jobs:claimNext until it returns nothing (True) or the claimer gives up or runs out of time."""
    errors = ErrorStreak(out)
    while time.monotonic() < deadline:
        t0 = time.perf_counter()
        try:
            ops = client.claim_next(WORKFLOW_ID, max_jobs, lease_seconds=LEASE_SECONDS)
            errors.ok()
        except RuntimeClientError as exc:
            if errors.failed("POST :claimNext", exc):
                return False
            continue
        if not ops:
            return True  # the queue is empty
        out["claim_ms"].append((time.perf_counter() - t0) * 1000)  # per request, however many it claimed
        out["claim_status"].extend([201] * len(ops))
    return False


def claim_by_id_until_empty(
    client: RuntimeClient, out: dict, page_size: int, rng: random.Random, deadline: float
) -> bool:
    """List a page of open jobs, shuffle it, claim each by id; until a page is empty (True)."""
    errors = ErrorStreak(out)
    while time.monotonic() < deadline:
        t0 = time.perf_counter()
        try:
            page = client.get("/jobs", status="open", workflow_id=WORKFLOW_ID, limit=page_size)
            errors.ok()
        except RuntimeClientError as exc:
            if errors.failed("GET /jobs", exc):
                return False
            continue
        out["list_ms"].append((time.perf_counter() - t0) * 1000)
        jobs = page["items"]
        if not jobs:
            return True
        rng.shuffle(jobs)  # the 8 claimers see the same first page: spread them over it
        for job in jobs:
            t0 = time.perf_counter()
            try:
                client.claim_job(job["id"], lease_seconds=LEASE_SECONDS)
                status = 201
                errors.ok()
            except RuntimeClientError as exc:
                status = exc.status
                if status == 409:  # a lost race, not an error
                    errors.ok()
                elif errors.failed("POST :claim", exc):
                    return False
            out["claim_ms"].append((time.perf_counter() - t0) * 1000)
            out["claim_status"].append(status)
    return False


def claimer(
    index: int,
    base_url: str,
    client_id: str,
    client_secret: str,
    mode: str,
    max_jobs: int,
    page_size: int,
    time_limit: float,
    ready: "mp.Queue",
    start: "mp.Event",
    results: "mp.Queue",
) -> None:
    """One site until no open job is left. Mode `next`: POST /jobs:claimNext for one job at a time
    (what a site's claim sensor does, batched there). Mode `by-id`: list a page of open jobs, shuffle
    it, claim each by id (every claimer races for the same page)."""
    out = {
        "index": index,
        "claim_ms": array("d"),
        "claim_status": array("H"),
        "list_ms": array("d"),
        "errors": Counter(),
        "gave_up": None,
    }
    try:
        client = RuntimeClient(base_url, Credentials(client_id=client_id, client_secret=client_secret), max_retries=0)
        client.token()  # log in before the clock starts
    except Exception as exc:
        ready.put((index, f"{type(exc).__name__}: {exc}"))
        return
    ready.put((index, None))
    start.wait()
    rng = random.Random(f"{index}-{os.getpid()}")
    cpu0, began = os.times(), time.monotonic()
    deadline = began + time_limit
    try:
        if mode == "next":
            drained = claim_next_until_empty(client, out, max_jobs, deadline)
        else:
            drained = claim_by_id_until_empty(client, out, page_size, rng, deadline)
        if not drained and not out["gave_up"]:
            out["gave_up"] = f"time limit of {time_limit:.0f}s reached"
    except Exception:
        out["gave_up"] = traceback.format_exc(limit=3)
    cpu1 = os.times()
    out["ended"] = time.monotonic()
    out["cpu"] = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    results.put(out)


# ------------------------------------------------------------------ one backend, set up and measured
@dataclass
class Result:
    backend: str
    server_workers: int
    jobs: int
    claimers: int
    max_jobs: int = 1
    insert_method: str = ""
    insert_s: float = 0.0
    wall_s: float = 0.0
    won: int = 0
    lost: int = 0
    other: Counter = field(default_factory=Counter)
    p50_ms: float = float("nan")
    p99_ms: float = float("nan")
    max_ms: float = float("nan")
    list_requests: int = 0
    list_p50_ms: float = float("nan")
    claim_requests: int = 0
    operations: int = 0
    duplicates: int = 0
    jobs_by_status: dict = field(default_factory=dict)
    ops_per_site: dict = field(default_factory=dict)
    gave_up: list = field(default_factory=list)
    cpu: dict = field(default_factory=dict)

    @property
    def claims_per_s(self) -> float:
        return self.won / self.wall_s if self.wall_s else 0.0

    @property
    def requests(self) -> int:
        return self.won + self.lost + sum(self.other.values()) + self.list_requests

    @property
    def label(self) -> str:
        return f"{'PostgreSQL' if self.backend == 'postgresql' else 'SQLite'} (server workers={self.server_workers})"


def populate(store, jobs: int, claimers: int, insert_method: str) -> tuple[list, float]:
    """Admin user, object type, workflow (capability `bench`), one site per claimer with credentials, and
    `jobs` open jobs. Returns ([(client_id, secret)], seconds spent inserting the jobs)."""
    from sqlalchemy import insert

    from orchestrator.runtime import schema as s
    from orchestrator.runtime import security
    from orchestrator.runtime.models import JobCreate, ObjectType, Principal, SiteCreate, Workflow

    store.create_user("bench-admin", security.new_secret(), is_admin=True)
    store.put_object_type(ObjectType(id=OBJECT_TYPE, name="Benchmark document"))
    store.put_workflow(
        Workflow(id=WORKFLOW_ID, name="Benchmark workflow", dagster_job="bench_job", capability_ids=[CAPABILITY])
    )
    creds = []
    for i in range(claimers):
        store.create_site(SiteCreate(id=f"bench-site-{i}", capability_ids=[CAPABILITY]))
        c = store.generate_credentials(f"bench-site-{i}")
        creds.append((c.client_id, c.client_secret))

    admin = Principal(kind="user", id="bench-admin", is_admin=True)
    t0 = time.perf_counter()
    if insert_method == "store":
        for _ in range(jobs):
            store.create_job(JobCreate(workflow_id=WORKFLOW_ID), admin)
    else:
        # The columns and values store.create_job writes for a job without inputs, in batches of 1,000.
        now, rows = s.utcnow(), []
        defaults = JobCreate(workflow_id=WORKFLOW_ID)
        for _ in range(jobs):
            rows.append(
                {
                    "id": security.new_id("job"),
                    "workflow_id": WORKFLOW_ID,
                    "inputs": [],
                    "config": {},
                    "max_attempts": defaults.max_attempts,
                    "status": "open",
                    "attempts": 0,
                    "created_by": f"{admin.kind}:{admin.id}",
                    "created_at": now,
                    "updated_at": now,
                }
            )
        for start in range(0, jobs, 1000):
            with store.write() as conn:
                conn.execute(insert(s.jobs), rows[start : start + 1000])
        store.get_job(rows[0]["id"])  # the rows read back as valid jobs
    seconds = time.perf_counter() - t0
    if store.list_jobs(limit=1, status="open", workflow_id=WORKFLOW_ID).items == []:
        raise SetupError("no open job after inserting them")
    return creds, seconds


def verify(store) -> dict:
    """From the database: operations per job (any job with more than one is claimed twice)."""
    from sqlalchemy import func, select

    from orchestrator.runtime import schema as s

    ops = s.operations.c
    with store.read() as conn:
        per_job = select(ops.job_id, func.count().label("n")).group_by(ops.job_id).subquery()
        return {
            "operations": conn.execute(select(func.count()).select_from(s.operations)).scalar(),
            "duplicates": conn.execute(select(func.count()).select_from(per_job).where(per_job.c.n > 1)).scalar(),
            "jobs_by_status": dict(conn.execute(select(s.jobs.c.status, func.count()).group_by(s.jobs.c.status)).all()),
            "ops_per_site": dict(conn.execute(select(ops.site_id, func.count()).group_by(ops.site_id)).all()),
        }


def postgres_backend_pids(store) -> list[int]:
    from sqlalchemy import text

    with store.read() as conn:
        return list(
            conn.execute(
                text("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
            ).scalars()
        )


def run_backend(backend: str, args, server_workers: int) -> Result:
    from orchestrator.runtime.store import Store
    from orchestrator.settings import Settings

    result = Result(backend, server_workers, args.jobs, args.claimers, args.max_jobs, insert_method=args.insert)
    how_claimed = (
        f"POST /jobs:claimNext, up to {args.max_jobs} job(s) a request"
        if args.mode == "next"
        else f"list (page size {args.page_size}) + claim by id"
    )
    print(f"\n=== {result.label}: {args.jobs} jobs, {args.claimers} claimer processes, {how_claimed}", flush=True)
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench_claims_")))
        if backend == "postgresql":
            url = stack.enter_context(postgres_database(args.postgres_url, "bench_claims"))
            print(f"  database: {url.rsplit('/', 1)[-1]} (fresh, dropped afterwards)")
        else:
            url = f"sqlite:///{tmp / 'runtime.db'}"
            print(f"  database: {tmp / 'runtime.db'} (temporary)")
        store = Store.open(Settings(database_url=url, blob_dir=tmp / "blobs"))
        stack.callback(store.dispose)
        creds, result.insert_s = populate(store, args.jobs, args.claimers, args.insert)
        how = (
            "store.create_job in a loop"
            if args.insert == "store"
            else "bulk INSERT via SQLAlchemy Core, 1,000 rows a statement"
        )
        print(f"  inserted {args.jobs} open jobs in {result.insert_s:.2f}s ({how})")

        server = stack.enter_context(RuntimeServer(url, tmp, workers=server_workers))
        print(
            f"  server: {server.url} (`orchestrator runtime serve --workers {server_workers}`, pid {server.process.pid}, "
            f"log {server.log_path.name})",
            flush=True,
        )

        ctx = mp.get_context("spawn")
        ready, results, start = ctx.Queue(), ctx.Queue(), ctx.Event()
        procs = [
            ctx.Process(
                target=claimer,
                name=f"claimer-{i}",
                daemon=True,
                args=(
                    i,
                    server.url,
                    cid,
                    secret,
                    args.mode,
                    args.max_jobs,
                    args.page_size,
                    args.time_limit,
                    ready,
                    start,
                    results,
                ),
            )
            for i, (cid, secret) in enumerate(creds)
        ]

        def stop_claimers():
            for proc in procs:
                if proc.is_alive():
                    proc.terminate()
            for proc in procs:
                proc.join(5)
                if proc.is_alive():
                    proc.kill()
                    proc.join(5)

        stack.callback(stop_claimers)
        with interrupts_deferred([signal.SIGINT]):  # the claimers inherit SIGINT blocked: Ctrl-C is ours to handle
            for proc in procs:
                proc.start()
        for _ in procs:
            try:
                index, error = ready.get(timeout=120)
            except queue.Empty:
                raise SetupError("the claimer processes did not log in within 120s") from None
            if error:
                raise SetupError(f"claimer {index} could not log in: {error}")

        pg_pids = postgres_backend_pids(store) if backend == "postgresql" else []
        server_pids = server.pids()
        spy = None
        if args.py_spy:
            profile = Path(f"{args.py_spy}-{backend}-w{server_workers}.txt").resolve()
            spy = stack.enter_context(PySpy(server.process.pid, profile))
        cpu_before = (cpu_seconds(server_pids), cpu_by_pid(pg_pids), machine_cpu())
        began = time.monotonic()
        start.set()
        outs = []
        while len(outs) < len(procs):
            try:
                outs.append(results.get(timeout=1))
            except queue.Empty:
                if server.process.poll() is not None:
                    raise SetupError(f"the runtime server died during the run:\n{server.log_tail()}") from None
                if not any(p.is_alive() for p in procs) and results.empty():
                    raise SetupError("a claimer process died without reporting") from None
        result.wall_s = max(out["ended"] for out in outs) - began
        if spy:
            spy.stop()
        busy, total = machine_cpu()
        server_cpu = cpu_seconds(server_pids)
        pg_after = cpu_by_pid(postgres_backend_pids(store) if backend == "postgresql" else [])
        result.cpu = {
            "server": server_cpu - cpu_before[0],
            "postgres": sum(v - cpu_before[1].get(pid, 0.0) for pid, v in pg_after.items()),
            "claimers": sum(out["cpu"] for out in outs),
            "machine_busy": busy - cpu_before[2][0],
            "machine_total": total - cpu_before[2][1],
        }

        latencies = sorted(ms for out in outs for ms in out["claim_ms"])
        statuses = Counter(st for out in outs for st in out["claim_status"])
        list_ms = sorted(ms for out in outs for ms in out["list_ms"])
        result.won, result.lost = statuses.pop(201, 0), statuses.pop(409, 0)
        result.other = sum((out["errors"] for out in outs), Counter())
        result.p50_ms, result.p99_ms = percentile(latencies, 50), percentile(latencies, 99)
        result.claim_requests = len(latencies)
        result.max_ms = latencies[-1] if latencies else float("nan")
        result.list_requests, result.list_p50_ms = len(list_ms), percentile(list_ms, 50)
        result.gave_up = [f"claimer {out['index']}: {out['gave_up']}" for out in outs if out["gave_up"]]
        for key, value in verify(store).items():
            setattr(result, key, value)
    report(result)
    return result


class PySpy:
    """`py-spy record` attached to the server (and its workers) for the claim phase: collapsed stacks
    of CPU samples, one line per stack, for flame graphs or a quick `sort | head`."""

    def __init__(self, pid: int, output: Path):
        self.pid, self.output = pid, output
        exe = os.environ.get("PY_SPY") or shutil.which("py-spy")
        if not exe:
            raise SetupError("--py-spy needs py-spy on PATH (or $PY_SPY): pip install py-spy")
        self.cmd = [
            exe,
            "record",
            "--pid",
            str(pid),
            "--subprocesses",
            "--rate",
            "250",
            "--format",
            "raw",
            "--output",
            str(output),
            "--nonblocking",
        ]

    def __enter__(self):
        self.log = self.output.with_suffix(".log")
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(self.cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        time.sleep(1.0)  # let it attach before the clock starts
        if self.proc.poll() is not None:
            raise SetupError(f"py-spy failed: {self.log.read_text(errors='replace')[-500:]}")
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            print(f"  py-spy profile of the server: {self.output}")


# ------------------------------------------------------------------ printing
def has_target(r: Result) -> bool:
    return r.backend == "postgresql" and r.server_workers == 1 and r.max_jobs == 1


def report(r: Result) -> None:
    met = "MET" if r.claims_per_s >= TARGET_PG_CLAIMS_PER_S and r.duplicates == 0 else "NOT MET"
    target = f"   (target >= {TARGET_PG_CLAIMS_PER_S}/s with 0 duplicates: {met})" if has_target(r) else ""
    open_left = r.jobs_by_status.get("open", 0)
    print(f"  total wall           {r.wall_s:8.2f} s")
    print(f"  successful claims/s  {r.claims_per_s:8.1f}{target}")
    print(f"  claims won (201)     {r.won:8d}")
    print(f"  claims lost (409)    {r.lost:8d}   ({r.lost / max(1, r.won + r.lost):.0%} of claim requests)")
    if r.other:
        print(f"  other errors         {sum(r.other.values()):8d}   {dict(r.other)}")
    print(f"  claim latency        p50 {r.p50_ms:.1f} ms, p99 {r.p99_ms:.1f} ms, max {r.max_ms:.1f} ms")
    print(f"  GET /jobs pages      {r.list_requests:8d}   (p50 {r.list_p50_ms:.1f} ms)")
    print(
        f"  operations in DB     {r.operations:8d}   ({'OK' if r.operations == r.jobs else 'MISMATCH'}: expected {r.jobs})"
    )
    print(
        f"  duplicate claims     {r.duplicates:8d}   ({'OK' if r.duplicates == 0 else 'FAIL: jobs with more than one operation'})"
    )
    if r.operations != r.won:
        print(f"  WARNING: {r.won} claims answered 201 but {r.operations} operations exist")
    if open_left:
        print(f"  WARNING: {open_left} jobs are still open")
    if r.ops_per_site:
        counts = sorted(r.ops_per_site.values())
        print(f"  claims per site      min {counts[0]}, max {counts[-1]} over {len(counts)} sites")
    c = r.cpu
    if c:
        cores = c["machine_total"] / r.wall_s if r.wall_s else 0
        pg = f", postgres backends {c['postgres']:.1f}" if r.backend == "postgresql" else ""
        ours = c["server"] + c["postgres"] + c["claimers"]
        print(
            f"  CPU seconds          server {c['server']:.1f}{pg}, claimers {c['claimers']:.1f}; machine busy "
            f"{c['machine_busy']:.1f} of {c['machine_total']:.1f} ({c['machine_busy'] / max(c['machine_total'], 1e-9):.0%} of {cores:.0f} cores)"
        )
        requests_made = r.requests
        print(
            f"  CPU per request      server {1000 * c['server'] / max(requests_made, 1):.2f} ms"
            + (f", postgres {1000 * c['postgres'] / max(requests_made, 1):.2f} ms" if r.backend == "postgresql" else "")
            + f", claimer {1000 * c['claimers'] / max(requests_made, 1):.2f} ms  ({requests_made} requests)"
        )
        other = c["machine_busy"] - ours
        if other > 0.1 * c["machine_total"]:
            print(
                f"  NOTE: other processes used {other:.1f} CPU seconds ({other / c['machine_total']:.0%} of the machine) "
                f"during this run: the figures are lower than on a quiet machine"
            )
    for line in r.gave_up:
        print(f"  WARNING: {line}")
    sys.stdout.flush()


def final_table(results: list[Result]) -> None:
    print("\n=== Summary")
    rows = [
        ("total wall (s)", lambda r: f"{r.wall_s:.2f}"),
        ("successful claims/s", lambda r: f"{r.claims_per_s:.1f}"),
        ("409 (lost claims)", lambda r: f"{r.lost}"),
        ("other errors", lambda r: f"{sum(r.other.values())}"),
        ("duplicate claims", lambda r: f"{r.duplicates}"),
        ("operations / jobs", lambda r: f"{r.operations} / {r.jobs}"),
        ("claim p50 (ms)", lambda r: f"{r.p50_ms:.1f}"),
        ("claim p99 (ms)", lambda r: f"{r.p99_ms:.1f}"),
        ("server CPU/request (ms)", lambda r: f"{1000 * r.cpu.get('server', 0) / max(1, r.requests):.2f}"),
        ("claim requests per win", lambda r: f"{r.claim_requests / max(1, r.won):.2f}"),
    ]
    heads = [r.label for r in results]
    width = max(len(h) for h in heads)
    print(f"{'':24}" + "".join(f"{h:>{width + 2}}" for h in heads))
    for name, fmt in rows:
        print(f"{name:24}" + "".join(f"{fmt(r):>{width + 2}}" for r in results))
    for pg in (r for r in results if r.backend == "postgresql"):
        if has_target(pg):
            met = "MET" if pg.claims_per_s >= TARGET_PG_CLAIMS_PER_S and pg.duplicates == 0 else "NOT MET"
            print(
                f"target: PostgreSQL one-job claims, one server worker: {pg.claims_per_s:.1f} claims/s, {pg.duplicates} "
                f"duplicates; >= {TARGET_PG_CLAIMS_PER_S}/s with 0 duplicates: {met}"
            )
        for lite in (r for r in results if r.backend == "sqlite" and r.server_workers == pg.server_workers):
            if lite.claims_per_s:
                print(
                    f"ratio pg/sqlite claims/s (server workers={pg.server_workers}): {pg.claims_per_s / lite.claims_per_s:.2f}"
                )


# ------------------------------------------------------------------ main
def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=5000, help="open jobs to claim (default 5000)")
    parser.add_argument(
        "--claimers", type=int, default=8, help="concurrent claimer processes, one site each (default 8)"
    )
    parser.add_argument(
        "--mode",
        choices=("next", "by-id"),
        default="next",
        help="next: POST /jobs:claimNext, as the sites' claim sensors do (default); by-id: list open jobs "
        "and race the other claimers for each by id (POST /jobs/{id}:claim)",
    )
    parser.add_argument(
        "--max-jobs",
        type=int,
        default=1,
        help="next mode: max_jobs of each claimNext (default 1; a site asks for its free run slots, 4 by default)",
    )
    parser.add_argument("--page-size", type=int, default=50, help="by-id mode: limit of each GET /jobs (default 50)")
    parser.add_argument(
        "--server-workers",
        default=DEFAULT_SERVER_WORKERS,
        help=f"uvicorn worker processes of the server; a comma list runs each (default {DEFAULT_SERVER_WORKERS})",
    )
    parser.add_argument(
        "--backends", default="postgresql,sqlite", help="comma list of postgresql, sqlite (default both)"
    )
    parser.add_argument(
        "--insert",
        choices=("bulk", "store"),
        default="bulk",
        help="how to create the jobs: one bulk INSERT per 1,000 (default) or store.create_job each",
    )
    parser.add_argument(
        "--postgres-url",
        default=postgres_admin_url(),
        help="a PostgreSQL database to connect to for CREATE/DROP DATABASE "
        "(default $ORCHESTRATOR_BENCH_POSTGRES_URL, $ORCHESTRATOR_TEST_POSTGRES_URL or postgres@127.0.0.1:5432)",
    )
    parser.add_argument(
        "--time-limit", type=float, default=600, help="seconds each claimer may run at most (default 600)"
    )
    parser.add_argument(
        "--py-spy",
        metavar="PREFIX",
        help="profile the server with py-spy during the claims; writes PREFIX-<backend>-w<workers>.txt",
    )
    args = parser.parse_args(argv)
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if not args.backends or set(args.backends) - {"postgresql", "sqlite"}:
        parser.error("--backends takes postgresql and/or sqlite")
    try:
        args.server_workers = [int(w) for w in str(args.server_workers).split(",")]
    except ValueError:
        parser.error("--server-workers takes a number or a comma list of numbers")
    if not 1 <= args.max_jobs <= 100:
        parser.error("--max-jobs takes 1..100")
    if args.jobs < 1 or args.claimers < 1 or not 1 <= args.page_size <= 1000 or min(args.server_workers) < 1:
        parser.error("--jobs, --claimers, --server-workers must be >= 1 and --page-size 1..1000")
    return args


def floor_beside(args, pg_results: list[Result]) -> int:
    """The same claims in plain SQL, in this run, and the API's share of that pace; returns duplicates."""
    floor = sql_floor(args.postgres_url, args.jobs, args.claimers, args.max_jobs, populate, verify)
    print(
        f"\n=== The floor: the same claim statement straight through psycopg2, {args.claimers} processes, "
        f"up to {args.max_jobs} job(s) a statement\n"
        f"  SQL claims/s         {floor.claims_per_s:8.1f}   ({floor.claims} claims in {floor.wall_s:.2f} s, "
        f"{floor.duplicates} duplicates)"
    )
    for r in pg_results:
        print(
            f"  API / SQL            {r.claims_per_s / max(floor.claims_per_s, 1e-9):8.2f}   "
            f"({r.label}: {r.claims_per_s:.1f} claims/s)"
        )
    return floor.duplicates


def _interrupt(_signum, _frame):
    raise KeyboardInterrupt


def main(argv=None) -> int:
    args = parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so the server is stopped and the database dropped either way.
    signal.signal(signal.SIGTERM, _interrupt)
    print(
        f"claim benchmark: backends {', '.join(args.backends)}; server workers {', '.join(map(str, args.server_workers))} "
        f"(default {DEFAULT_SERVER_WORKERS}); {os.cpu_count()} cores"
    )
    results = []
    try:
        for workers in args.server_workers:
            for backend in args.backends:
                results.append(run_backend(backend, args, workers))
    except KeyboardInterrupt:
        print("\ninterrupted: server stopped, temporary database removed", file=sys.stderr)
        return 130
    except SetupError as exc:
        print(f"\nSETUP FAILED: {exc}", file=sys.stderr)
        return 2
    except Exception:
        traceback.print_exc()
        print("\nSETUP FAILED: unexpected error (above); everything it created was removed", file=sys.stderr)
        return 2
    final_table(results)
    duplicates = sum(r.duplicates for r in results)
    if "postgresql" in args.backends and args.mode == "next":
        duplicates += floor_beside(args, [r for r in results if r.backend == "postgresql"])
    if duplicates:
        print(f"FAIL: {duplicates} jobs were claimed more than once", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
