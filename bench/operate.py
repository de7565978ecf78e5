"""What operating a site costs and how fast it acts, measured side by side in one run:

- per-action overhead of a site's action run (job directory record, the supervisor process that
  measures memory and CPU, the final bookkeeping) against the bare command started by subprocess;
- `orchestrator site kill`: from the kill to the action recorded KILLED_BY_ADMIN;
- database maintenance: from its start to the running database action stopped and requeued;
- the peak memory reported for actions that touch a known number of MiB.

Targets are printed, not asserted (a busy machine moves the figures).

    .venv/bin/python bench/operate.py [--actions 30] [--repeats 5]
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from orchestrator.operate.runs import Site
from orchestrator.pipeline import ImageMap, Workspace, load_project, run_request
from orchestrator.pipeline.jobdirs import JobDirs

TARGET_OVERHEAD_MS = 60  # per action, over the bare command
TARGET_KILL_S = 1.0
TARGET_HOLD_S = 1.0
TARGET_MEMORY_SLACK_MIB = 20  # the interpreter's own, beyond what the action touched
TOUCH = (
    "import sys, pathlib\nblock = bytearray(int(sys.argv[1]) * 2**20)\n"
    "for i in range(0, len(block), 4096):\n    block[i] = 1\n"
    "pathlib.Path(sys.argv[2]).parent.mkdir(parents=True, exist_ok=True)\npathlib.Path(sys.argv[2]).write_text('x')\n"
)
SLEEP = (
    "import sys, time, pathlib\ntime.sleep(float(sys.argv[1]))\n"
    "pathlib.Path(sys.argv[2]).parent.mkdir(parents=True, exist_ok=True)\npathlib.Path(sys.argv[2]).write_text('x')\n"
)


def study(root: Path, actions: list[tuple[str, str, str]]) -> Path:
    """actions: (name, image, args); the scripts touch.py and sleep.py are there."""
    path = root / f"study-{time.monotonic_ns()}"
    (path / "analysis").mkdir(parents=True)
    (path / "analysis" / "touch.py").write_text(TOUCH)
    (path / "analysis" / "sleep.py").write_text(SLEEP)
    rows = ["version: '4.0'", "actions:"]
    for name, image, args in actions:
        rows += [f"  {name}:", f"    run: {image} {args}", "    outputs:", "      highly_sensitive:"]
        rows.append(f"        out: output/{name}.txt")
    (path / "project.yaml").write_text("\n".join(rows) + "\n")
    return path


def run(path: Path, root: Path, **options):
    workspace = Workspace(root / f"ws-{time.monotonic_ns()}")
    options.setdefault("image_map", ImageMap.from_mapping({"python": [sys.executable], "sqlrunner": [sys.executable]}))
    return run_request(load_project(path), path, workspace, "run_all", **options)


def overhead(root: Path, count: int) -> tuple[float, float, float]:
    """Seconds per action: a site's run (job dirs), a local run (temporary dirs), the bare command."""
    names = [f"a{i}" for i in range(count)]
    path = study(root, [(n, "python:v2", f"analysis/sleep.py 0 output/{n}.txt") for n in names])
    began = time.perf_counter()
    outcome = run(path, root, concurrency=1, job_dirs=JobDirs(root / "jobs"))
    site = (time.perf_counter() - began) / count
    assert outcome.ok, outcome.failed
    began = time.perf_counter()
    assert run(path, root, concurrency=1).ok
    local = (time.perf_counter() - began) / count
    scratch = root / "bare"
    scratch.mkdir(exist_ok=True)
    began = time.perf_counter()
    for name in names:
        script = str(path / "analysis" / "sleep.py")
        subprocess.run([sys.executable, script, "0", f"output/{name}.txt"], cwd=scratch, check=True)
    bare = (time.perf_counter() - began) / count
    return site, local, bare


def kill_latency(root: Path) -> float:
    """From `Site.kill` (what the command does) to the action recorded KILLED_BY_ADMIN."""
    jobs = JobDirs(root / "jobs-kill")
    path = study(root, [("long", "python:v2", "analysis/sleep.py 60 output/long.txt")])
    thread = threading.Thread(target=run, args=(path, root), kwargs={"job_dirs": jobs})
    thread.start()
    while not any(r.pid for r in jobs.records() if not r.finished):
        time.sleep(0.01)
    site = Site(root / "jobs-kill", root / "none")
    (ref,) = [r for r in site.runs() if r.status == "running"]
    began = time.perf_counter()
    site.kill(ref)
    took = time.perf_counter() - began
    thread.join(30)
    return took


def hold_latency(root: Path) -> float:
    """From maintenance on to the running database action stopped and back to pending (it then runs again:
    maintenance ends at once, and its 2 s run ends the request)."""
    path = study(root, [("extract", "sqlrunner:latest", "analysis/sleep.py 2 output/extract.txt")])
    maintenance, events = threading.Event(), []
    held_at = {}

    def on_event(event):
        events.append(event)
        if event.kind == "held":
            held_at["t"] = time.perf_counter()
            maintenance.clear()

    options = {"on_event": on_event, "hold_database": maintenance.is_set, "database_url": "postgresql://x@y/z"}
    thread = threading.Thread(target=run, args=(path, root), kwargs=options)
    thread.start()
    while not any(e.kind == "started" for e in events):
        time.sleep(0.01)
    began = time.perf_counter()
    maintenance.set()
    thread.join(60)
    return held_at["t"] - began


def memory(root: Path, mib: int) -> float:
    path = study(root, [("touch", "python:v2", f"analysis/touch.py {mib} output/touch.txt")])
    outcome = run(path, root, job_dirs=JobDirs(root / "jobs-memory"))
    assert outcome.ok, outcome.failed
    return outcome.results["touch"].peak_memory_bytes / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--actions", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-operate-") as temp:
        root = Path(temp)
        site, local, bare = overhead(root, args.actions)
        print(f"per action, {args.actions} trivial actions one at a time:")
        print(f"  site run (job dirs, supervisor): {site * 1000:6.1f} ms")
        print(f"  local run (temporary dirs):      {local * 1000:6.1f} ms")
        print(f"  bare subprocess:                 {bare * 1000:6.1f} ms")
        extra = (site - bare) * 1000
        print(
            f"  site - bare: {extra:.1f} ms, ratio {site / bare:.2f}   "
            f"(target <= {TARGET_OVERHEAD_MS} ms: {'met' if extra <= TARGET_OVERHEAD_MS else 'NOT met'})"
        )
        kills = [kill_latency(root) for _ in range(args.repeats)]
        kill = statistics.median(kills)
        print(
            f"\nsite kill -> KILLED_BY_ADMIN recorded, median of {args.repeats}: {kill:.3f} s "
            f"(max {max(kills):.3f})   (target <= {TARGET_KILL_S} s: {'met' if kill <= TARGET_KILL_S else 'NOT met'})"
        )
        holds = [hold_latency(root) for _ in range(args.repeats)]
        hold = statistics.median(holds)
        print(
            f"maintenance on -> running database action stopped, median of {args.repeats}: {hold:.3f} s "
            f"(max {max(holds):.3f})   (target <= {TARGET_HOLD_S} s: {'met' if hold <= TARGET_HOLD_S else 'NOT met'})"
        )
        print("\npeak memory reported for an action touching N MiB:")
        for mib in (64, 256):
            peak = memory(root, mib)
            slack = peak - mib
            verdict = "met" if 0 <= slack <= TARGET_MEMORY_SLACK_MIB else "NOT met"
            print(
                f"  {mib:4d} MiB touched: {peak:7.1f} MiB reported, +{slack:.1f}   (target +0..{TARGET_MEMORY_SLACK_MIB}: {verdict})"
            )


if __name__ == "__main__":
    main()
