"""Submit -> first action running, with a site's default settings: a study submitted as an object of
type `study` (the README's trigger makes its pipeline job) to a real runtime, run by a real
`dagster-daemon` site. Each submission waits for the one before to finish and a random 0-5 s more,
so submissions land at every phase of the daemon's 5 s sensor loop. Prints each leg from the
records themselves: job created (new-objects sensor), claimed (claim sensor), run queued, run
started (run queue, run worker start-up), first action started.

Beside it, in the same run, the same submissions to a site with what the defaults were before
(Dagster's 5 s run-queue interval, jobs left to the claim sensors: ORCHESTRATOR_CLAIM_ON_OPEN=false)."""

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _site import (  # noqa: E402
    Daemon,
    RuntimeServer,
    SetupError,
    admin_client,
    bootstrap_runtime,
    fresh_dagster_home,
    make_site_copy,
    runtime_database,
    table,
    terminate_on_sigterm,
    wait_for,
)
from jobsite import register, study_files, tar_gz  # noqa: E402

from orchestrator.runtime.client import RuntimeClientError  # noqa: E402
from orchestrator.runtime.models import job_id_for  # noqa: E402

TARGET_P50_S, TARGET_P95_S = 8.0, 12.0
SITE_ID, PIPELINE, STUDY_TYPE = "bench-site", "pipeline-1.0.0", "study"
LEGS = ["job created", "claimed", "run queued", "run started", "first action started"]


def epoch(value: str | float) -> float:
    return value if isinstance(value, float) else datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def one_submission(client, instance, variant: int, timeout: float, alive) -> list[float]:
    """The moments (epoch seconds) of submit and of each leg's end, for one study."""
    import dagster as dg

    submitted = time.time()
    obj = client.create_object(
        tar_gz(study_files(variant)), name=f"study-{variant}.tar.gz", types=[STUDY_TYPE], mime_type="application/gzip"
    )
    job_id = job_id_for(PIPELINE, [obj["id"]])
    seen: dict = {}

    def first_action_started() -> bool:
        alive()
        try:
            job = seen["job"] = client.get(f"/jobs/{job_id}")
        except RuntimeClientError as exc:
            if exc.status == 404:  # the new-objects sensor has not made it yet
                return False
            raise
        if not job.get("operation_id"):
            return False
        op = seen["operation"] = client.get(f"/operations/{job['operation_id']}")
        actions = (op.get("metadata") or {}).get("actions") or {}
        return any(a.get("started_at") for a in actions.values())

    wait_for(first_action_started, timeout, f"study {variant}'s first action to start", every=0.1)
    job, op = seen["job"], seen["operation"]
    (record,) = instance.get_run_records(dg.RunsFilter(tags={"runtime/operation_id": op["id"]}))
    action_started = min(epoch(a["started_at"]) for a in op["metadata"]["actions"].values() if a.get("started_at"))
    moments = [
        submitted,
        epoch(job["created_at"]),
        epoch(op["created_at"]),
        record.create_timestamp.timestamp(),
        record.start_time,
        action_started,
    ]
    wait_for(lambda: client.get(f"/jobs/{job_id}")["status"] in ("succeeded", "failed"), timeout, "the job to end")
    return moments


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def measure(args, workdir: Path, before: bool) -> list[list[float]]:
    import dagster as dg

    workdir.mkdir(parents=True)
    with ExitStack() as stack:
        db_url = stack.enter_context(runtime_database(args.backend, workdir, "bench_latency"))
        home = workdir / "runtime"
        server = stack.enter_context(RuntimeServer(db_url, home, workdir / "runtime.log"))
        admin, site_creds = bootstrap_runtime(db_url, home, SITE_ID)
        site = make_site_copy(workdir / "site")
        dagster_home = fresh_dagster_home(workdir / "site-dagster")
        if before:  # Dagster's own run-queue interval
            config = dagster_home / "dagster.yaml"
            text = config.read_text()
            if "dequeue_interval_seconds: 1" not in text:
                raise SetupError("dagster.yaml no longer sets dequeue_interval_seconds: 1; update bench/latency.py")
            config.write_text(text.replace("dequeue_interval_seconds: 1", "dequeue_interval_seconds: 5"))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ORCHESTRATOR_", "DAGSTER_"))}
        env.update(
            PYTHONPATH=str(site),
            DAGSTER_HOME=str(dagster_home),
            ORCHESTRATOR_HOME=str(workdir / "site-home"),
            ORCHESTRATOR_WORKSPACES_DIR=str(workdir / "site-workspaces"),
            ORCHESTRATOR_URL=server.url,
            ORCHESTRATOR_SITE_ID=SITE_ID,
            ORCHESTRATOR_CLIENT_ID=site_creds["client_id"],
            ORCHESTRATOR_CLIENT_SECRET=site_creds["client_secret"],
        )  # nothing else: the defaults are what is measured
        if before:
            env["ORCHESTRATOR_CLAIM_ON_OPEN"] = "false"
        register(site, env, admin)
        daemon = stack.enter_context(Daemon(site / "workspace.yaml", env, workdir / "site-daemon.log"))
        instance = stack.enter_context(dg.DagsterInstance.from_config(str(dagster_home)))
        client = admin_client(server.url, admin)
        rng = random.Random(args.seed)
        one_submission(client, instance, 0, args.timeout, daemon.check_alive)  # warms the code server; not counted
        rows = []
        for i in range(1, args.submissions + 1):
            time.sleep(rng.uniform(0, 5))
            rows.append(one_submission(client, instance, i, args.timeout, daemon.check_alive))
            print(f"  submission {i}: first action after {rows[-1][-1] - rows[-1][0]:.2f} s", flush=True)
        return rows


def report(rows: list[list[float]], before: list[list[float]] | None) -> None:
    legs = [[m[i + 1] - m[i] for m in rows] for i in range(len(LEGS))]
    totals = [m[-1] - m[0] for m in rows]
    if before:
        old = [m[-1] - m[0] for m in before]
        print(
            f"before (5 s run queue, claims left to the claim sensors): p50 {statistics.median(old):.2f} s, "
            f"p95 {percentile(old, 95):.2f} s; now / before at p50: {statistics.median(totals) / statistics.median(old):.2f}"
        )
    body = [
        [name, f"{statistics.median(v):.2f}", f"{percentile(v, 95):.2f}", f"{min(v):.2f}", f"{max(v):.2f}"]
        for name, v in zip(LEGS, legs, strict=True)
    ]
    p50, p95 = statistics.median(totals), percentile(totals, 95)
    body.append(
        ["submit -> first action running", f"{p50:.2f}", f"{p95:.2f}", f"{min(totals):.2f}", f"{max(totals):.2f}"]
    )
    print(table(["leg (s, each from the one before)", "p50", "p95", "min", "max"], body))
    met = p50 <= TARGET_P50_S and p95 <= TARGET_P95_S
    print(
        f"target: p50 <= {TARGET_P50_S:g} s and p95 <= {TARGET_P95_S:g} s over {len(rows)} submissions: "
        f"p50 {p50:.2f} s, p95 {p95:.2f} s: {'MET' if met else 'NOT MET'}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--submissions", type=int, default=20, help="studies measured (default 20)")
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite", help="the runtime's database")
    parser.add_argument("--timeout", type=float, default=300, help="seconds allowed for each submission")
    parser.add_argument("--seed", type=int, default=13, help="seed of the random spacing")
    parser.add_argument("--no-before", action="store_true", help="skip the site with the earlier defaults")
    args = parser.parse_args()
    terminate_on_sigterm()
    with tempfile.TemporaryDirectory(prefix="bench_latency_") as tmp:
        print(f"latency benchmark: {args.submissions} studies, runtime on {args.backend}, a site with default settings")
        try:
            print("the site with today's defaults:")
            rows = measure(args, Path(tmp) / "now", before=False)
            before = None
            if not args.no_before:
                print("the site with the earlier defaults:")
                before = measure(args, Path(tmp) / "before", before=True)
        except SetupError as exc:
            print(f"\nSETUP FAILED: {exc}", file=sys.stderr)
            return 2
    report(rows, before)
    return 0


if __name__ == "__main__":
    sys.exit(main())
