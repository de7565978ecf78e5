"""`orchestrator run [ACTIONS...]`: run a study's actions locally, as job-runner's local_run does:
validate, plan against the workspace, run with live per-action lines, then a summary (outputs by
level, withheld files, the end of each failing log). Exit 1 if anything failed.
"""

from __future__ import annotations

import re
import signal
import sys
import threading
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape

from orchestrator.pipeline.check import check_project
from orchestrator.pipeline.engine import ActionEvent, RunResult, run_request
from orchestrator.pipeline.execute import Limits
from orchestrator.pipeline.images import ImageMap, ImageMapError
from orchestrator.pipeline.plan import PlanError
from orchestrator.pipeline.status import State, StatusCode
from orchestrator.pipeline.workspace import Workspace, WorkspaceError
from orchestrator.settings import Settings

STYLE = {State.SUCCEEDED: "green", State.FAILED: "red", State.PENDING: "yellow", State.RUNNING: "cyan"}
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """'512M', '2G', '1.5GB', '1048576' -> bytes."""
    match = _SIZE.match(text.strip())
    if not match:
        raise click.BadParameter(f"{text!r} is not a size such as 512M or 2G")
    number, unit = match.groups()
    return int(float(number) * 1024 ** " KMGT".index(unit.upper() or " "))


@click.command("run")
@click.argument("actions", nargs=-1)
@click.option(
    "-f",
    "--force-run-dependencies",
    is_flag=True,
    help="Run the requested actions' dependencies even if they already succeeded.",
)
@click.option(
    "--project-dir",
    default=".",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The study: holds project.yaml.",
)
@click.option(
    "--workspace-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where outputs, logs and the manifest go [default: PROJECT_DIR/workspace].",
)
@click.option(
    "--concurrency", default=2, show_default=True, type=click.IntRange(1), help="How many actions may run at once."
)
@click.option("--continue-on-error", is_flag=True, help="Keep running independent actions after one fails.")
@click.option(
    "--timeout",
    type=click.FloatRange(0, min_open=True),
    help="Seconds an action may run before it is killed (JOB_TIMEOUT).",
)
@click.option("--memory-limit", help="Address space per action, e.g. 2G (OUT_OF_MEMORY beyond it).")
def run_command(
    actions, force_run_dependencies, project_dir, workspace_dir, concurrency, continue_on_error, timeout, memory_limit
):
    """Run ACTIONS of the study (or run_all) and their dependencies that have not succeeded."""
    console = Console(soft_wrap=True, highlight=False)
    if not actions:
        raise click.UsageError("name the actions to run, or run_all")
    memory = parse_size(memory_limit) if memory_limit else None
    checked = check_project(project_dir)
    if not checked.ok:
        for line in checked.lines:
            console.print(escape(line))
        sys.exit(1)
    try:
        image_map = ImageMap.from_json(Settings().image_map)
    except ImageMapError as exc:
        raise click.ClickException(str(exc)) from None
    # Ctrl-C asks the engine to stop (it kills the running actions and reports them CANCELLED_BY_USER) rather
    # than raising KeyboardInterrupt wherever the main thread happens to be; a second Ctrl-C interrupts at once.
    stop = threading.Event()
    previous_handler = signal.signal(signal.SIGINT, _stop_on_first_interrupt(stop))
    try:
        workspace = Workspace(workspace_dir or project_dir / "workspace")
        console.print(f"Workspace: {escape(str(workspace.path))}")
        outcome = run_request(
            checked.project,
            project_dir,
            workspace,
            list(actions),
            force_run_dependencies,
            concurrency=concurrency,
            continue_on_error=continue_on_error,
            limits=Limits(timeout=timeout, memory=memory),
            image_map=image_map,
            on_event=lambda event: show_event(console, event),
            stop=stop,
        )
    except WorkspaceError as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:  # the workspace directory cannot be made or written
        raise click.ClickException(f"cannot use the workspace {exc.filename or ''}: {exc.strerror or exc}") from None
    finally:
        signal.signal(signal.SIGINT, previous_handler)
    if isinstance(outcome, PlanError):
        console.print(f"[red]{outcome.code}[/red]: {escape(outcome.message)}")
        sys.exit(1)
    show_summary(console, outcome, workspace)
    sys.exit(0 if outcome.ok else 1)


def _stop_on_first_interrupt(stop: threading.Event):
    def handler(signum, frame) -> None:
        stop.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    return handler


def show_event(console: Console, event: ActionEvent) -> None:
    name = escape(event.action)
    if event.kind == "started":
        console.print(f"  [cyan]started[/cyan]   {name}  (job {event.job_id})")
    elif event.kind == "waiting":
        console.print(f"  [yellow]waiting[/yellow]   {name}  ({escape(event.message or 'already running')})")
    elif event.kind == "reused":
        console.print(f"  [green]reused[/green]    {name}  (succeeded earlier; outputs present)")
    elif event.result is not None:
        result = event.result
        took = f"  {result.duration:.1f}s" if result.duration is not None else ""
        style = STYLE[result.state]
        console.print(f"  [{style}]{result.state.value:<9}[/{style}] {name}  {result.status_code.value}{took}")


def show_summary(console: Console, outcome: RunResult, workspace: Workspace) -> None:
    console.print()
    for result in outcome.results.values():
        if result.details.get("reused"):
            continue
        style = STYLE[result.state]
        console.print(f"=> [{style}]{escape(result.action)}[/{style}]: {result.status_code.value}")
        for line in result.message.splitlines():
            console.print(f"   {escape(line)}")
        if result.log_path:
            console.print(f"   log: {escape(result.log_path)}")
        if not result.ok and result.log_tail and result.status_code is not StatusCode.DEPENDENCY_FAILED:
            console.print(f"   last {len(result.log_tail)} lines of its output:")
            for line in result.log_tail:
                console.print(f"     | {escape(line)}")
    _show_outputs(console, outcome.results.values(), workspace)
    failed = outcome.failed
    verdict = (
        f"[red]{len(failed)} of {len(outcome.results)} action(s) did not succeed[/red]"
        if failed
        else f"[green]all {len(outcome.results)} action(s) succeeded[/green]"
    )
    console.print(f"\n{verdict}")


def _show_outputs(console: Console, results, workspace: Workspace) -> None:
    files = workspace.read_manifest()["files"]
    mine = {name for name in (result.action for result in results)}
    by_level: dict[str, list[str]] = {}
    withheld = []
    for path, entry in sorted(files.items()):
        if entry.get("action") in mine:
            by_level.setdefault(entry["level"], []).append(path)
            if entry.get("viewable") is False:
                withheld.append(path)
    if by_level:
        console.print("\nOutputs by level:")
    for level, paths in sorted(by_level.items()):
        console.print(f"  {level}:")
        for path in paths:
            console.print(f"    {escape(path)}")
    if withheld:
        console.print("\nWithheld by Level 4 checks (not in level4/; the reason is beside it):")
        for path in withheld:
            console.print(f"    {escape(path)} -> level4/{escape(path)}.txt")
    stray = workspace.stray_files()
    if stray:
        console.print("\n[yellow]Files in the workspace that no action produced (ignored):[/yellow]")
        for path in stray:
            console.print(f"    {escape(path)}")


if __name__ == "__main__":  # python -m orchestrator.pipeline.cli ACTIONS...
    run_command()
