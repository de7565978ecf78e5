"""Small builders shared by the pipeline tests: inline YAML in, problems or a project out."""

from __future__ import annotations

import textwrap

from orchestrator.pipeline import Problem, Project, validate_project_source


def problems_in(yaml_text: str | bytes) -> list[Problem]:
    source = textwrap.dedent(yaml_text) if isinstance(yaml_text, str) else yaml_text
    project, problems = validate_project_source(source)
    assert (project is None) == bool(problems)
    return problems


def codes_in(yaml_text: str | bytes) -> list[str]:
    return [problem.code for problem in problems_in(yaml_text)]


def valid_project(yaml_text: str) -> Project:
    project, problems = validate_project_source(textwrap.dedent(yaml_text))
    assert problems == [], [problem.describe() for problem in problems]
    return project


def chain_project(length: int, version: int = 4) -> str:
    """`length` actions, each needing the one before it."""
    rows = [f"version: {version}", "actions:"]
    for i in range(length):
        rows += [f"  step_{i}:", f"    run: python:v2 analysis/step.py --step {i}"]
        if i:
            rows.append(f"    needs: [step_{i - 1}]")
        rows += [
            "    outputs:",
            "      moderately_sensitive:",
            f"        table: output/step_{i}.csv",
        ]
    return "\n".join(rows) + "\n"


def wide_project(width: int, version: int = 4) -> str:
    """`width` independent actions and one `report` that needs them all."""
    rows = [f"version: {version}", "actions:"]
    for i in range(width):
        rows += [
            f"  part_{i}:",
            f"    run: r:v2 analysis/part.R {i}",
            "    outputs:",
            "      highly_sensitive:",
            f"        data: output/part_{i}/data.arrow",
        ]
    needs = ", ".join(f"part_{i}" for i in range(width))
    rows += [
        "  report:",
        "    run: python:v2 analysis/report.py",
        f"    needs: [{needs}]",
        "    outputs:",
        "      moderately_sensitive:",
        "        report: output/report.html",
    ]
    return "\n".join(rows) + "\n"
