"""Tiny studies written into a temp dir for the execution tests: project.yaml plus scripts, and a
`run` that plans and runs them against a workspace beside the study."""

from __future__ import annotations

import textwrap
from pathlib import Path

from orchestrator.pipeline import Workspace, load_project, run_request
from orchestrator.pipeline.engine import RunResult
from orchestrator.pipeline.images import ImageMap
from orchestrator.pipeline.plan import PlanError

# Scripts the tests share; each runs as `python:v2 analysis/<name>.py ARGS`.
SCRIPTS = {
    # write FILE [TEXT]: write TEXT (default "x") to FILE, creating directories
    "write": """
        import sys, pathlib
        path = pathlib.Path(sys.argv[1]); path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(sys.argv[2] if len(sys.argv) > 2 else "x\\n")
        print("wrote", path)
    """,
    # fail: print some lines and exit 3
    "fail": """
        import sys
        for i in range(30): print("line", i)
        print("something went wrong", file=sys.stderr)
        sys.exit(3)
    """,
    # sleep SECONDS [FILE]
    "sleep": """
        import sys, time, pathlib
        time.sleep(float(sys.argv[1]))
        if len(sys.argv) > 2:
            pathlib.Path(sys.argv[2]).parent.mkdir(parents=True, exist_ok=True)
            pathlib.Path(sys.argv[2]).write_text("slept\\n")
    """,
    # copy SRC DST: read an input, write an output
    "copy": """
        import sys, pathlib
        text = pathlib.Path(sys.argv[1]).read_text()
        pathlib.Path(sys.argv[2]).parent.mkdir(parents=True, exist_ok=True)
        pathlib.Path(sys.argv[2]).write_text(text)
    """,
}


def make_study(root: Path, project_yaml: str, scripts: dict[str, str] | None = None) -> Path:
    study = root / "study"
    (study / "analysis").mkdir(parents=True, exist_ok=True)
    (study / "project.yaml").write_text(textwrap.dedent(project_yaml))
    for name, body in {**SCRIPTS, **(scripts or {})}.items():
        (study / "analysis" / f"{name}.py").write_text(textwrap.dedent(body))
    return study


def run(study: Path, actions="run_all", workspace: Workspace | None = None, **options):
    """Plan and run; returns (RunResult, Workspace). Fails the test on a PlanError."""
    workspace = workspace or Workspace(study.parent / "workspace")
    options.setdefault("image_map", ImageMap())
    outcome = run_request(load_project(study), study, workspace, actions, **options)
    assert not isinstance(outcome, PlanError), outcome
    assert isinstance(outcome, RunResult)
    return outcome, workspace


def action(
    name: str,
    run_args: str,
    outputs: dict[str, dict[str, str]] | None = None,
    needs: list[str] | None = None,
    image: str = "python:v2",
) -> str:
    """One action's YAML (indented for `actions:`)."""
    lines = [f"  {name}:", f"    run: {image} {run_args}"]
    if needs:
        lines.append(f"    needs: [{', '.join(needs)}]")
    lines.append("    outputs:")
    for level, named in (outputs or {"moderately_sensitive": {"out": f"output/{name}.csv"}}).items():
        lines.append(f"      {level}:")
        lines += [f"        {key}: {pattern}" for key, pattern in named.items()]
    return "\n".join(lines)


def project(*actions: str) -> str:
    return "version: '4.0'\nactions:\n" + "\n".join(actions) + "\n"
