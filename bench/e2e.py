"""End to end: N `note` objects submitted to a real runtime API, turned into jobs and run by a real
`dagster-daemon` site with the README's echo workflow, first submit -> last job succeeded; against the
bare-Dagster floor (a sensor yielding N RunRequests for an equally trivial job, same dagster.yaml).

`--guide light` runs echo as the README's light workflow (batches of 50 jobs a run) and prints jobs a
minute beside the run-per-job floor's, measured in the same run on `--floor-runs` runs."""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _site import (
    Daemon,
    RuntimeServer,
    SetupError,
    admin_client,
    bootstrap_runtime,
    cpu_split,  # noqa: E402
    fresh_dagster_home,
    machine_busy_seconds,
    make_site_copy,
    max_concurrent_runs,
    median,
    process_tree,
    runtime_database,
    sensor_ticks,
    table,
    tail,
    terminate_on_sigterm,
    wait_for,
)

TARGET_RATIO = 1.10  # issue 13: a heavy job end to end at most 1.10x the bare-Dagster floor
LIGHT_TARGET_PER_MINUTE, LIGHT_TARGET_TIMES_FLOOR = 600, 20
WORKFLOW_ID, JOB_NAME, SITE_ID = "echo-1.0.0", "echo", "bench-site"
FLOOR_JOB, FLOOR_SENSOR = "floor_job", "floor_burst"

# The floor's code location: the same graph shape as echo (load -> work -> report) with no runtime,
# and a sensor that waits for a trigger file, then yields every RunRequest in one tick.
FLOOR_MODULE = '''
"""Bare-Dagster floor for bench/e2e.py: a 3-op job like echo's, without the runtime."""
import os
from pathlib import Path

import dagster as dg

TRIGGER = Path(os.environ["FLOOR_TRIGGER"])
RUNS = int(os.environ["FLOOR_RUNS"])


@dg.op
def load_input() -> dict:
    return {"objects": [{"name": "note.txt"}], "config": {"sleep_seconds": 0}}


@dg.op
def echo_names(job_input: dict) -> dict:
    return {"echo": [obj["name"] for obj in job_input["objects"]]}


@dg.op
def report_result(result: dict) -> None:
    pass


@dg.job(name="floor_job", executor_def=dg.in_process_executor if os.environ.get("FLOOR_EXECUTOR") == "in_process"
        else dg.multiprocess_executor)
def floor_job():
    report_result(echo_names(load_input()))


@dg.sensor(name="floor_burst", job=floor_job, default_status=dg.DefaultSensorStatus.RUNNING,
           minimum_interval_seconds=int(os.environ.get("FLOOR_SENSOR_INTERVAL", "1")))
def floor_burst(context: dg.SensorEvaluationContext):
    if context.cursor == "done":
        return dg.SkipReason("already requested")
    if not TRIGGER.exists():
        return dg.SkipReason("waiting for the trigger file")
    return dg.SensorResult(run_requests=[dg.RunRequest(run_key=f"floor-{i}") for i in range(RUNS)], cursor="done")


defs = dg.Definitions(jobs=[floor_job], sensors=[floor_burst])
'''


@dataclass
class Result:
    name: str
    wall: float = float("nan")  # start event -> last run/job done (recorded timestamps)
    runs: list = field(default_factory=list)  # per run: dict of phase timestamps
    ticks: dict = field(default_factory=dict)  # sensor name -> ticks since start
    busy_cpu: float = 0.0  # machine busy CPU seconds during the measurement
    proc_cpu: dict = field(default_factory=dict)  # process group -> CPU seconds during the measurement
    routes: Counter = field(default_factory=Counter)
    extra: dict = field(default_factory=dict)
    load: tuple = ()  # 1-minute load average before / after
    incomplete: str = ""  # why the path stopped before every job finished


def loadavg() -> float:
    return os.getloadavg()[0]


# ------------------------------------------------------------------ reading a Dagster instance
def run_phases(instance, job_name: str, since: float) -> list[dict]:
    """Per run: when it was enqueued, dequeued (STARTING), started in its worker, succeeded; per-step durations."""
    import dagster as dg
    from dagster._core.events import DagsterEventType as E

    kinds = {E.RUN_STARTING, E.RUN_START, E.RUN_SUCCESS, E.RUN_FAILURE, E.STEP_START, E.STEP_SUCCESS}
    phases = []
    for record in instance.get_run_records(dg.RunsFilter(job_name=job_name)):
        run = record.dagster_run
        times, steps, step_start, failure = {"created": record.create_timestamp.timestamp()}, {}, {}, None
        for entry in instance.all_logs(run.run_id, of_type=kinds):
            kind = entry.dagster_event.event_type
            if kind == E.STEP_START:
                step_start[entry.step_key] = entry.timestamp
            elif kind == E.STEP_SUCCESS:
                steps[entry.step_key] = entry.timestamp - step_start.get(entry.step_key, entry.timestamp)
            else:
                times.setdefault(kind.value, entry.timestamp)
                if kind in (E.RUN_SUCCESS, E.RUN_FAILURE):
                    times.setdefault("end", entry.timestamp)
                if kind == E.RUN_FAILURE:
                    failure = (entry.dagster_event.message or entry.user_message or "").splitlines()[0][:140]
        if times["created"] >= since - 1:
            phases.append(
                {
                    "run_id": run.run_id,
                    "status": run.status.value,
                    "tags": dict(run.tags),
                    "t": times,
                    "steps": steps,
                    "failure": failure,
                }
            )
    return phases


def ticks_since(instance, name: str, since: float) -> list:
    return [t for t in sensor_ticks(instance, name) if t.timestamp >= since]


def phase(run: dict, a: str, b: str) -> float | None:
    t = run["t"]
    return t[b] - t[a] if a in t and b in t else None


def stats(values) -> str:
    values = sorted(v for v in values if v is not None)
    if not values:
        return "-"
    return f"{sum(values) / len(values):6.2f} / {median(values):6.2f} / {values[-1]:6.2f}"


ACCESS = re.compile(r'"(GET|POST|PUT|PATCH|DELETE) ([^ ?"]+)[^"]*" (\d{3})')
IDS = re.compile(r"(obj|job|op|client)-[0-9a-f]+")


def route_counts(log_path: Path, offset: int) -> Counter:
    """Requests per route (ids folded) in the uvicorn access log after byte `offset`."""
    with open(log_path, "rb") as fh:
        fh.seek(offset)
        text = fh.read().decode(errors="replace")
    return Counter(f"{m[1]} {IDS.sub(lambda x: '{' + x[1] + '}', m[2])} {m[3]}" for m in ACCESS.finditer(text))


# ------------------------------------------------------------------ ours
class Incomplete(Exception):
    """A job failed for good: the path cannot finish as measured (reported, not a setup error)."""


def job_statuses(admin) -> Counter:
    """Jobs per status: one GET per 1,000 jobs, so polling costs the runtime little."""
    return Counter(job["status"] for job in admin.iterate("/jobs", page_size=1000, workflow_id=WORKFLOW_ID))


def measure_ours(args, workdir: Path, slots: int) -> Result:
    from dagster import DagsterInstance

    result = Result("ours (runtime + site)")
    with ExitStack() as stack:
        db_url = stack.enter_context(runtime_database(args.db, workdir, "bench_e2e"))
        home = workdir / "runtime"
        server = stack.enter_context(RuntimeServer(db_url, home, workdir / "runtime.log"))
        admin_creds, site_creds = bootstrap_runtime(db_url, home, SITE_ID)
        repo = make_site_copy(workdir / "site", args.guide)
        dagster_home = fresh_dagster_home(workdir / "site-dagster")
        base = {k: v for k, v in os.environ.items() if not k.startswith(("ORCHESTRATOR_", "DAGSTER_"))}
        env = {
            **base,
            "PYTHONPATH": str(repo),
            "DAGSTER_HOME": str(dagster_home),
            "ORCHESTRATOR_HOME": str(workdir / "site-home"),
            "ORCHESTRATOR_URL": server.url,
            "ORCHESTRATOR_SITE_ID": SITE_ID,
            "ORCHESTRATOR_CLIENT_ID": site_creds["client_id"],
            "ORCHESTRATOR_CLIENT_SECRET": site_creds["client_secret"],
            "ORCHESTRATOR_SENSOR_INTERVAL_SECONDS": str(args.sensor_interval),
            "ORCHESTRATOR_MAX_RUNS_PER_WORKFLOW": str(slots),
            "ORCHESTRATOR_CLAIM_AHEAD": str(args.claim_ahead),
            "ORCHESTRATOR_EXECUTOR": args.executor,  # the site's own setting (orchestrator/executors.py)
        }
        admin_env = {
            **env,
            "ORCHESTRATOR_USERNAME": admin_creds["username"],
            "ORCHESTRATOR_PASSWORD": admin_creds["password"],
            "ORCHESTRATOR_CLIENT_ID": "",
            "ORCHESTRATOR_CLIENT_SECRET": "",
        }
        registered = subprocess.run(
            [sys.executable, "-m", "orchestrator.cli", "register"],
            cwd=repo,
            env=admin_env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if registered.returncode != 0:
            raise SetupError(f"`orchestrator register` failed:\n{registered.stderr[-3000:]}")
        admin = admin_client(server.url, admin_creds)
        if admin.get("/triggers/note")["workflow_id"] != WORKFLOW_ID:
            raise SetupError("the note trigger was not registered for echo-1.0.0")

        daemon = stack.enter_context(Daemon(repo / "workspace.yaml", env, workdir / "site-daemon.log"))
        instance = stack.enter_context(DagsterInstance.from_config(str(dagster_home)))
        wait_idle(instance, daemon, ["new_objects", f"claim_{JOB_NAME}", "lease_reconcile"], args.startup_timeout)
        result.extra["idle_cpu"] = idle_cpu_rate(daemon, args.idle_seconds, server)

        log_offset = (workdir / "runtime.log").stat().st_size
        busy0, server_cpu0, daemon_cpu0 = (
            machine_busy_seconds(),
            server.cpu_seconds(),
            cpu_split(process_tree(daemon.process.pid)),
        )
        load0 = loadavg()
        submitted = {}
        t0 = time.time()
        for i in range(args.objects):
            obj = admin.create_object(
                f"note {i} of the e2e benchmark\n".encode(), name=f"note-{i:04d}.txt", types=["note"]
            )
            submitted[obj["id"]] = time.time()
        t_submitted = time.time()
        print(
            f"  submitted {args.objects} objects in {t_submitted - t0:.2f} s; waiting for the jobs to finish ...",
            flush=True,
        )

        def finished():
            daemon.check_alive()
            statuses = job_statuses(admin)
            if statuses["failed"] and not args.keep_going:
                raise Incomplete(
                    f"{statuses['failed']} job(s) failed for good after {time.time() - t0:.0f} s "
                    f"({dict(statuses)}); stopped waiting (--keep-going waits for every job)"
                )
            return statuses["succeeded"] + statuses["failed"] >= args.objects

        try:
            wait_for(finished, args.timeout, f"{args.objects} echo jobs to finish", every=args.poll)
            wait_runs_ended(instance, daemon)  # a run reports its job's result just before it ends
        except Incomplete as exc:
            result.incomplete = str(exc)
        t_seen = time.time()
        result.load = (load0, loadavg())
        result.busy_cpu = machine_busy_seconds() - busy0
        result.proc_cpu = {"runtime API": server.cpu_seconds() - server_cpu0, **daemon_cpu(daemon, daemon_cpu0)}
        jobs = list(admin.iterate("/jobs", page_size=1000, workflow_id=WORKFLOW_ID))
        done = [j for j in jobs if j["status"] in ("succeeded", "failed")] or jobs
        result.wall = max(datetime.fromisoformat(j["updated_at"]).timestamp() for j in done) - t0
        result.runs = run_phases(instance, JOB_NAME, t0)
        result.ticks = {
            name: ticks_since(instance, name, t0) for name in ("new_objects", f"claim_{JOB_NAME}", "lease_reconcile")
        }
        result.routes = route_counts(workdir / "runtime.log", log_offset)
        failed = [j for j in jobs if j["status"] == "failed"]
        errors = Counter()
        for job in failed:
            op = admin.get(f"/operations/{job['operation_id']}") if job["operation_id"] else {}
            errors[(op.get("error") or {}).get("code", "?")] += 1
        reconcile_notes = " ".join(t.skip_reason or "" for t in result.ticks["lease_reconcile"])
        result.extra = {
            **result.extra,
            "t0": t0,
            "submit_s": t_submitted - t0,
            "seen_s": t_seen - t0,
            "statuses": Counter(j["status"] for j in jobs),
            "failed_codes": errors,
            "attempts": Counter(j["attempts"] for j in jobs),
            "lost_worker": reconcile_notes.count("lost its worker"),
            "released": reconcile_notes.count("released job"),
            "job_created": {j["id"]: datetime.fromisoformat(j["created_at"]).timestamp() for j in jobs},
            "job_input_submitted": {j["id"]: submitted.get(j["inputs"][0]) for j in jobs},
        }
    return result


def daemon_cpu(daemon: Daemon, before: tuple[float, float]) -> dict:
    own, reaped = cpu_split(process_tree(daemon.process.pid))
    return {
        "daemon + code server (sensors, queue, launches)": own - before[0],
        "run workers (reaped processes)": reaped - before[1],
    }


def idle_cpu_rate(daemon: Daemon, seconds: float, server: RuntimeServer | None = None) -> float:
    """CPU seconds per second that the idle site (daemon tree, plus the runtime API if given) burns, nothing to do."""
    if seconds <= 0:
        return float("nan")
    before = sum(cpu_split(process_tree(daemon.process.pid))) + (server.cpu_seconds() if server else 0)
    time.sleep(seconds)
    return (
        sum(cpu_split(process_tree(daemon.process.pid))) + (server.cpu_seconds() if server else 0) - before
    ) / seconds


def wait_runs_ended(instance, daemon: Daemon, timeout: float = 300) -> None:
    import dagster as dg

    live = [
        dg.DagsterRunStatus.QUEUED,
        dg.DagsterRunStatus.NOT_STARTED,
        dg.DagsterRunStatus.STARTING,
        dg.DagsterRunStatus.STARTED,
        dg.DagsterRunStatus.CANCELING,
    ]
    wait_for(
        lambda: not instance.get_runs_count(dg.RunsFilter(statuses=live)),
        timeout,
        "the last runs to end",
        alive=daemon.check_alive,
    )


def wait_idle(instance, daemon: Daemon, sensors: list[str], timeout: float) -> None:
    """Up and idle: every sensor has ticked at least twice (code server loaded, tokens fetched)."""
    from dagster._core.scheduler.instigation import TickStatus

    def ready():
        ticks = {name: sensor_ticks(instance, name, limit=2) for name in sensors}
        for name, found in ticks.items():
            if found and found[0].status == TickStatus.FAILURE:
                raise SetupError(f"sensor {name} failed: {found[0].error.to_string() if found[0].error else '?'}")
        return all(len(found) >= 2 for found in ticks.values())

    wait_for(ready, timeout, f"sensors {', '.join(sensors)} to tick twice", alive=daemon.check_alive)


# ------------------------------------------------------------------ the floor
def measure_floor(args, workdir: Path) -> Result:
    import dagster as dg
    from dagster import DagsterInstance

    result = Result("floor (bare Dagster)")
    code = workdir / "floor"
    code.mkdir()
    (code / "floor_defs.py").write_text(FLOOR_MODULE)
    (code / "workspace.yaml").write_text(
        f"load_from:\n  - python_module:\n      module_name: floor_defs\n      working_directory: {code}\n"
    )
    dagster_home = fresh_dagster_home(workdir / "floor-dagster")
    trigger = workdir / "floor-trigger"
    base = {k: v for k, v in os.environ.items() if not k.startswith(("ORCHESTRATOR_", "DAGSTER_"))}
    env = {
        **base,
        "DAGSTER_HOME": str(dagster_home),
        "FLOOR_TRIGGER": str(trigger),
        "FLOOR_RUNS": str(args.floor_runs),
        "FLOOR_SENSOR_INTERVAL": str(args.sensor_interval),
        "FLOOR_EXECUTOR": args.executor,
    }
    with ExitStack() as stack:
        daemon = stack.enter_context(Daemon(code / "workspace.yaml", env, workdir / "floor-daemon.log"))
        instance = stack.enter_context(DagsterInstance.from_config(str(dagster_home)))
        wait_idle(instance, daemon, [FLOOR_SENSOR], args.startup_timeout)
        idle = idle_cpu_rate(daemon, args.idle_seconds)
        busy0, daemon_cpu0, load0 = machine_busy_seconds(), cpu_split(process_tree(daemon.process.pid)), loadavg()
        t0 = time.time()
        trigger.touch()

        def finished():
            daemon.check_alive()
            if instance.get_runs_count(dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE])):
                raise SetupError(f"a floor run failed\n{tail(workdir / 'floor-daemon.log')}")
            return instance.get_runs_count(dg.RunsFilter(statuses=[dg.DagsterRunStatus.SUCCESS])) >= args.floor_runs

        wait_for(finished, args.timeout, f"{args.floor_runs} floor runs to succeed", every=args.poll)
        t_seen = time.time()
        result.load = (load0, loadavg())
        result.busy_cpu = machine_busy_seconds() - busy0
        result.proc_cpu = daemon_cpu(daemon, daemon_cpu0)
        result.runs = run_phases(instance, FLOOR_JOB, t0)
        result.wall = max(r["t"].get("end", 0) for r in result.runs) - t0
        result.ticks = {FLOOR_SENSOR: ticks_since(instance, FLOOR_SENSOR, t0)}
        result.extra = {"seen_s": t_seen - t0, "t0": t0, "idle_cpu": idle}
    return result


# ------------------------------------------------------------------ report
def slot_held(runs: list[dict]) -> float:
    """Slot-seconds held by dequeued runs (STARTING .. success/failure)."""
    return sum(
        r["t"]["end"] - r["t"]["PIPELINE_STARTING"] for r in runs if "end" in r["t"] and "PIPELINE_STARTING" in r["t"]
    )


def summary_row(res: Result) -> list:
    first = min((r["t"]["created"] for r in res.runs), default=res.extra["t0"]) - res.extra["t0"]
    return [
        res.name,
        f"{res.wall:.1f}",
        len(res.runs),
        sum(1 for r in res.runs if r["status"] == "FAILURE"),
        f"{first:.1f}",
        stats(phase(r, "created", "PIPELINE_STARTING") for r in res.runs),
        stats(phase(r, "PIPELINE_STARTING", "PIPELINE_START") for r in res.runs),
        stats(phase(r, "PIPELINE_START", "end") for r in res.runs),
        f"{res.busy_cpu:.0f}",
        f"{res.load[0]:.1f} / {res.load[1]:.1f}",
    ]


def report(ours: Result | None, floor: Result | None, args, slots: int) -> None:
    results = [r for r in (ours, floor) if r]
    print()
    print(
        table(
            [
                "path",
                "wall s",
                "runs",
                "runs failed",
                "1st run s",
                "queued->dequeued s (mean/p50/max)",
                "dequeued->worker up s",
                "worker up->end s",
                "CPU s",
                "load 1m before/after",
            ],
            [summary_row(r) for r in results],
            f"{args.objects} jobs, {slots} run slots, sensor interval {args.sensor_interval} s, runtime on {args.db}, "
            f"executor {args.executor}, {os.cpu_count()} CPUs",
        )
    )
    if ours and ours.incomplete:
        print(f"\nours did NOT complete: {ours.incomplete}. No ratio; the figures below cover what ran.")
    elif ours and floor and args.guide == "light":
        print_light_throughput(ours, floor, args)
    elif ours and floor:
        ratio = ours.wall / floor.wall
        print(
            f"\nratio ours/floor = {ours.wall:.1f} / {floor.wall:.1f} = {ratio:.2f}   (target <= {TARGET_RATIO:.2f}: "
            f"{'met' if ratio <= TARGET_RATIO else 'NOT met'})"
        )
    for res in results:
        failures = Counter(r["failure"] or r["status"] for r in res.runs if r["status"] == "FAILURE")
        for message, n in failures.most_common(5):
            print(f"{res.name}: {n} run(s) failed: {message}")
    if ours:
        x = ours.extra
        print(
            f"\nours: jobs {dict(x['statuses'])}; attempts per job {dict(sorted(x['attempts'].items()))}; "
            f"failed with {dict(x['failed_codes']) or 'none'}; the reconcile sensor marked {x['lost_worker']} run(s) "
            f"'lost its worker' and released {x['released']} job(s)"
        )
        run_of = {}
        for r in sorted(ours.runs, key=lambda r: r["t"]["created"]):
            run_of.setdefault(r["tags"].get("runtime/job_id"), r)  # the job's first run
        to_job = [
            x["job_created"][j] - x["job_input_submitted"][j]
            for j in x["job_created"]
            if x["job_input_submitted"].get(j)
        ]
        to_claim = [run_of[j]["t"]["created"] - x["job_created"][j] for j in x["job_created"] if j in run_of]
        print(
            "\n"
            + table(
                ["ours, per job (first attempt)", "mean / p50 / max s"],
                [
                    ["object submitted -> job created (new_objects sensor)", stats(to_job)],
                    ["job created -> claimed, run enqueued (claim sensor)", stats(to_claim)],
                    [
                        "run enqueued -> dequeued (run queue daemon)",
                        stats(phase(r, "created", "PIPELINE_STARTING") for r in run_of.values()),
                    ],
                    [
                        "dequeued -> run worker started",
                        stats(phase(r, "PIPELINE_STARTING", "PIPELINE_START") for r in run_of.values()),
                    ],
                    [
                        "run worker started -> run ended",
                        stats(phase(r, "PIPELINE_START", "end") for r in run_of.values()),
                    ],
                ],
            )
        )
    print(
        "\n"
        + table(
            ["op (successful steps)"] + [f"{r.name} s (mean/p50/max)" for r in results],
            [
                [step] + [stats(run["steps"].get(step) for run in r.runs) for r in results]
                for step in ("load_input", "echo_names", "report_result")
            ],
        )
    )
    print(
        "\n"
        + table(
            ["run slots"] + [r.name for r in results],
            [
                ["slot-seconds (slots x wall)"] + [f"{slots * r.wall:.0f}" for r in results],
                ["held by a dequeued run"] + [f"{slot_held(r.runs):.0f}" for r in results],
                ["idle"] + [f"{slots * r.wall - slot_held(r.runs):.0f}" for r in results],
            ],
        )
    )
    tick_rows = [
        [
            name,
            len(ticks),
            sum(1 for t in ticks if t.run_ids),
            sum(len(t.run_ids) for t in ticks),
            stats((t.end_timestamp or t.timestamp) - t.timestamp for t in ticks),
            f"{median([b.timestamp - a.timestamp for a, b in zip(ticks[1:], ticks[:-1], strict=True)]):.1f}"
            if len(ticks) > 1
            else "-",
        ]
        for res in results
        for name, ticks in res.ticks.items()
    ]
    print(
        "\n"
        + table(
            ["sensor", "ticks", "ticks with runs", "runs requested", "tick s (mean/p50/max)", "p50 gap s"], tick_rows
        )
    )
    if ours:
        print(
            "\n"
            + table(
                ["runtime API requests during the run", "count", "per job"],
                [
                    [route, n, f"{n / args.objects:.2f}"]
                    for route, n in sorted(ours.routes.items(), key=lambda kv: -kv[1])
                ],
            )
        )
    print(
        "\n"
        + table(
            ["CPU seconds during the measurement", "seconds"],
            [[f"{res.name}: {k}", f"{v:.1f}"] for res in results for k, v in res.proc_cpu.items()]
            + [[f"{res.name}: whole machine (busy, includes other users)", f"{res.busy_cpu:.1f}"] for res in results],
        )
    )
    print(
        "\n"
        + table(
            ["idle site, before the start", "CPU s per s"], [[r.name, f"{r.extra['idle_cpu']:.3f}"] for r in results]
        )
    )
    if ours and floor and not ours.incomplete:
        per_run = [sum(r.proc_cpu.values()) / n for r, n in ((ours, args.objects), (floor, args.floor_runs))]
        print(
            f"CPU per job, all processes of the path: ours {per_run[0]:.2f} s, floor {per_run[1]:.2f} s, ratio "
            f"{per_run[0] / per_run[1]:.2f} (a load-independent proxy for the wall ratio on a CPU-bound machine)"
        )
    notes = [f"{r.name}: completion seen by polling at {r.extra['seen_s']:.1f} s" for r in results]
    if ours:
        notes.insert(0, f"ours: submitting took {ours.extra['submit_s']:.1f} s")
    print("\n(" + "; ".join(notes) + "; walls use the recorded completion times)")


def print_light_throughput(ours: Result, floor: Result, args) -> None:
    """Batches: jobs a minute against the floor's runs a minute (a run per job), with both targets."""
    ours_rate, floor_rate = args.objects / ours.wall * 60, args.floor_runs / floor.wall * 60
    ratio = ours_rate / floor_rate
    per_run = Counter(len([k for k in r["tags"] if k.startswith("runtime-batch/")]) or 1 for r in ours.runs)
    print(
        table(
            ["light jobs, end to end", "jobs/min", "target", "met"],
            [
                [
                    f"ours: {args.objects} jobs in {len(ours.runs)} runs",
                    f"{ours_rate:.0f}",
                    f">= {LIGHT_TARGET_PER_MINUTE}",
                    "met" if ours_rate >= LIGHT_TARGET_PER_MINUTE else "NOT met",
                ],
                [f"floor: a run per job ({args.floor_runs} runs)", f"{floor_rate:.0f}", "", ""],
                [
                    "ratio ours/floor",
                    f"{ratio:.1f}x",
                    f">= {LIGHT_TARGET_TIMES_FLOOR}x",
                    "met" if ratio >= LIGHT_TARGET_TIMES_FLOOR else "NOT met",
                ],
            ],
            f"jobs per run: {dict(sorted(per_run.items()))}",
        )
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--objects", type=int, default=100, help="objects submitted (default 100)")
    parser.add_argument("--floor-runs", type=int, help="runs of the floor (default: as many as --objects)")
    parser.add_argument(
        "--guide",
        choices=["graph", "light"],
        default="graph",
        help="echo as the README's graph workflow, a run per job (default), or as its light workflow in batches",
    )
    parser.add_argument(
        "--db", choices=["sqlite", "postgres"], default="sqlite", help="the runtime's database (default sqlite)"
    )
    parser.add_argument(
        "--sensor-interval",
        type=int,
        default=1,
        help="ORCHESTRATOR_SENSOR_INTERVAL_SECONDS and the floor's (default 1)",
    )
    parser.add_argument(
        "--executor",
        choices=["in_process", "multiprocess"],
        default="in_process",
        help="in_process (default) or multiprocess (a process per op): the site's ORCHESTRATOR_EXECUTOR and "
        "the floor job's executor alike",
    )
    parser.add_argument(
        "--claim-ahead",
        type=int,
        default=0,
        help="ORCHESTRATOR_CLAIM_AHEAD of the site: claims waiting in Dagster's run queue (default 0)",
    )
    parser.add_argument("--timeout", type=float, default=1800, help="seconds allowed for each path to finish")
    parser.add_argument("--startup-timeout", type=float, default=300, help="seconds allowed for a daemon to come up")
    parser.add_argument("--poll", type=float, default=1.0, help="completion poll interval, seconds")
    parser.add_argument(
        "--idle-seconds", type=float, default=20, help="seconds to measure each idle site's CPU use (0: skip)"
    )
    parser.add_argument("--keep-going", action="store_true", help="wait for every job even after one failed for good")
    parser.add_argument("--only", choices=["ours", "floor"], help="measure one path only")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, Dagster homes)")
    args = parser.parse_args()
    args.floor_runs = args.floor_runs or args.objects
    terminate_on_sigterm()
    slots = max_concurrent_runs()
    workdir = Path(tempfile.mkdtemp(prefix="bench-e2e-"))
    print(
        f"e2e: {args.objects} jobs ({args.guide} echo), runtime on {args.db}, {slots} run slots (dagster.yaml max_concurrent_runs = "
        f"ORCHESTRATOR_MAX_RUNS_PER_WORKFLOW), claim ahead {args.claim_ahead}, executor {args.executor}, {os.cpu_count()} CPUs, "
        f"load average {loadavg():.1f}; work dir {workdir}",
        flush=True,
    )
    try:
        ours = floor = None
        if args.only != "floor":
            print("ours: runtime API + site daemon ...", flush=True)
            ours = measure_ours(args, workdir, slots)
            print(f"  done: {ours.wall:.1f} s", flush=True)
        if ours and ours.incomplete:
            print(
                f"  INCOMPLETE: {ours.incomplete}\nfloor: skipped (no ratio without ours; run it with --only floor)",
                flush=True,
            )
        elif args.only != "ours":
            print("floor: bare Dagster daemon ...", flush=True)
            floor = measure_floor(args, workdir)
            print(f"  done: {floor.wall:.1f} s", flush=True)
        report(ours, floor, args, slots)
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
