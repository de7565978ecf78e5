"""The pipeline engine against `make -j`: a 60-action DAG (6 wide, 10 levels, each action a Python
script sleeping 0.3 s, each needing 1-3 actions of the level before) at concurrency 4, run by
`run_request` and by make over a generated Makefile with the same graph and the same commands, in
one run; prints both walls and the ratio engine/make. Then the validation time of a generated
10,000-action project.yaml. Targets are printed, not asserted (a busy machine moves the figures).

    .venv/bin/python bench/pipeline.py [--rounds 2] [--concurrency 4]
"""

import argparse
import random
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from orchestrator.pipeline import ImageMap, Workspace, load_project, run_request, validate_project_source

WIDTH, LEVELS, SLEEP = 6, 10, 0.3
TARGET_RATIO = 1.10
TARGET_VALIDATION_SECONDS = 1.0
NAP = (
    "import sys, time, pathlib\ntime.sleep(float(sys.argv[1]))\n"
    "pathlib.Path(sys.argv[2]).parent.mkdir(parents=True, exist_ok=True)\n"
    "pathlib.Path(sys.argv[2]).write_text('done\\n')\n"
)


def dag(seed: int = 7) -> dict[str, list[str]]:
    """name -> needs: level L's actions each need 1-3 actions of level L-1."""
    rng = random.Random(seed)
    graph = {}
    for level in range(LEVELS):
        for index in range(WIDTH):
            needs = [] if level == 0 else sorted(rng.sample(range(WIDTH), rng.randint(1, 3)))
            graph[f"a{level}_{index}"] = [f"a{level - 1}_{i}" for i in needs]
    return graph


def command(name: str) -> list[str]:
    return ["analysis/nap.py", str(SLEEP), f"output/{name}.txt"]


def write_study(root: Path, graph: dict[str, list[str]]) -> Path:
    study = root / "study"
    (study / "analysis").mkdir(parents=True)
    (study / "analysis/nap.py").write_text(NAP)
    rows = ["version: '4.0'", "actions:"]
    for name, needs in graph.items():
        rows += [f"  {name}:", f"    run: python:v2 {' '.join(command(name))}"]
        if needs:
            rows.append(f"    needs: [{', '.join(needs)}]")
        rows += ["    outputs:", "      highly_sensitive:", f"        out: output/{name}.txt"]
    (study / "project.yaml").write_text("\n".join(rows) + "\n")
    return study


def write_makefile(study: Path, graph: dict[str, list[str]]) -> Path:
    """One target per action (its output file), prerequisites = its needs' outputs."""
    rows = [f"all: {' '.join(f'output/{name}.txt' for name in graph)}", ""]
    for name, needs in graph.items():
        prerequisites = " ".join(f"output/{need}.txt" for need in needs)
        argv = " ".join(shlex.quote(part) for part in [sys.executable, *command(name)])
        rows += [f"output/{name}.txt: {prerequisites}", f"\t{argv}", ""]
    makefile = study / "Makefile"
    makefile.write_text("\n".join(rows))
    return makefile


def engine_wall(study: Path, root: Path, concurrency: int) -> float:
    workspace = Workspace(root / f"ws-{time.monotonic_ns()}")
    project = load_project(study)
    began = time.perf_counter()
    outcome = run_request(project, study, workspace, "run_all", concurrency=concurrency, image_map=ImageMap())
    wall = time.perf_counter() - began
    if not outcome.ok:
        raise SystemExit(f"engine run failed: {[(r.action, r.message) for r in outcome.failed]}")
    return wall


def make_wall(study: Path, concurrency: int) -> float:
    shutil.rmtree(study / "output", ignore_errors=True)
    began = time.perf_counter()
    subprocess.run(["make", "-s", f"-j{concurrency}", "-f", "Makefile", "all"], cwd=study, check=True)
    return time.perf_counter() - began


def validation_seconds(actions: int = 10_000) -> float:
    rows = ["version: '4.0'", "actions:"]
    for i in range(actions):
        rows += [f"  step_{i}:", f"    run: python:v2 analysis/step.py --step {i}"]
        if i:
            needs = sorted({i - 1, i // 2})
            rows.append(f"    needs: [{', '.join(f'step_{n}' for n in needs)}]")
        rows += ["    outputs:", "      moderately_sensitive:", f"        table: output/step_{i}.csv"]
    text = "\n".join(rows) + "\n"
    began = time.perf_counter()
    project, problems = validate_project_source(text)
    seconds = time.perf_counter() - began
    assert project is not None and not problems, problems[:3]
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="engine and make alternate this many times")
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    if not shutil.which("make"):
        raise SystemExit("make is not installed; the comparison needs it")
    graph = dag()
    floor = LEVELS * SLEEP  # the critical path, ignoring process start-up
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as temp:
        root = Path(temp)
        study = write_study(root, graph)
        write_makefile(study, graph)
        engine, make = [], []
        for round_ in range(args.rounds):
            engine.append(engine_wall(study, root, args.concurrency))
            make.append(make_wall(study, args.concurrency))
            print(f"round {round_ + 1}: engine {engine[-1]:.2f} s   make -j{args.concurrency} {make[-1]:.2f} s")
    engine_s, make_s = statistics.median(engine), statistics.median(make)
    print(
        f"\n{len(graph)} actions ({WIDTH} wide x {LEVELS} levels, {SLEEP} s each), "
        f"concurrency {args.concurrency}; critical path >= {floor:.1f} s, "
        f"work/concurrency >= {len(graph) * SLEEP / args.concurrency:.1f} s"
    )
    print(f"engine wall (median of {args.rounds}): {engine_s:.2f} s")
    print(f"make   wall (median of {args.rounds}): {make_s:.2f} s")
    print(f"ratio engine/make: {engine_s / make_s:.3f}   (target <= {TARGET_RATIO:.2f})")
    seconds = validation_seconds()
    print(
        f"\nvalidate a 10,000-action project.yaml: {seconds:.3f} s   "
        f"(target well under {TARGET_VALIDATION_SECONDS:.0f} s)"
    )


if __name__ == "__main__":
    main()
