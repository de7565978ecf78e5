"""`orchestrator check [PATH]`: validate a project.yaml and say, line by line, what to fix.

The CLI calls `main(path)` for the exit code; `check_project` returns the verdict and the lines
so other callers (tests, a web view) can show them their own way.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from orchestrator.pipeline.errors import Problem
from orchestrator.pipeline.project import (
    Project,
    project_file_path,
    read_project_file,
    validate_project_source,
)


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    lines: list[str]
    project: Project | None = None
    problems: tuple[Problem, ...] = ()


def check_project(path: str | Path = ".") -> CheckResult:
    """Validate the project.yaml at `path` (the file, or a directory holding one)."""
    file_path = project_file_path(path)
    shown_as = str(file_path)
    source, unreadable = read_project_file(file_path)
    if unreadable:
        return CheckResult(False, [unreadable.describe(shown_as)], problems=(unreadable,))
    project, problems = validate_project_source(source)
    if project is None:
        lines = [problem.describe(shown_as) for problem in problems]
        lines.append(f"{shown_as}: {len(problems)} problem(s) found")
        return CheckResult(False, lines, problems=tuple(problems))
    summary = (
        f"{shown_as}: valid (version {project.version:g}, {len(project.actions)} actions, "
        f"{project.output_count} outputs)"
    )
    return CheckResult(True, [summary], project=project)


def main(path: str | Path = ".") -> int:
    """Print the check's lines; 0 if the project is valid, 1 if not."""
    result = check_project(path)
    for line in result.lines:
        print(line)
    return 0 if result.ok else 1
