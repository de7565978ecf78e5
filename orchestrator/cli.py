"""The `orchestrator` command: submit objects, inspect and steer jobs and operations, run the runtime.

Client commands reach the runtime at ORCHESTRATOR_URL with ORCHESTRATOR_USERNAME/PASSWORD (or a
site's ORCHESTRATOR_CLIENT_ID/SECRET), falling back to the credentials `orchestrator up` saved.
"""

import json
import sys
from pathlib import Path

import click

from orchestrator import render, startup
from orchestrator.airlock.cli import COMMANDS as AIRLOCK_COMMANDS
from orchestrator.client_config import client_from_env
from orchestrator.jobsite.cli import COMMANDS as JOBSITE_COMMANDS
from orchestrator.metadata_cli import metadata_group
from orchestrator.operate.cli import site_group
from orchestrator.pipeline.cli import run_command
from orchestrator.runtime.cli import runtime_group
from orchestrator.runtime.client import RuntimeClientError
from orchestrator.runtime.errors import RuntimeApiError
from orchestrator.up import up_command


@click.group()
def cli():
    """Submit objects to the runtime and watch the jobs they trigger."""


@runtime_group.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64), help="uvicorn worker processes")
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
    help="Default: LOGLEVEL, else info (claims, releases and reports; debug adds progress reports)",
)
@click.option(
    "--access-log/--no-access-log",
    default=False,
    show_default=True,
    help="A line per request. It costs about 1 ms of server CPU per request, 40% of a claim's; "
    "the proxy in front of the runtime usually logs requests already.",
)
def serve_command(host: str, port: int, workers: int, log_level: str | None, access_log: bool):
    """Serve the runtime HTTP API and the jobs site's (/api/...); OpenAPI docs at /docs."""
    from orchestrator.server import serve  # FastAPI and the store only when serving

    serve(host, port, workers, startup.server_log_level(log_level), access_log=access_log)


cli.add_command(runtime_group)
for _command in AIRLOCK_COMMANDS:
    cli.add_command(_command)
for _command in JOBSITE_COMMANDS:
    cli.add_command(_command)
cli.add_command(up_command)
cli.add_command(site_group)
cli.add_command(metadata_group)
cli.add_command(run_command)


@cli.command("submit")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--type", "types", multiple=True, required=True, help="Object type (repeatable), e.g. study.")
@click.option("--name", help="Defaults to the file name (a directory becomes NAME.tar.gz).")
@click.option("--wait", is_flag=True, help="Follow the triggered jobs to their end; exit 1 unless all succeed.")
@click.option("--timeout", type=click.FloatRange(min=1), help="With --wait: give up after this many seconds.")
def submit_command(path: Path, types: tuple[str, ...], name: str | None, wait: bool, timeout: float | None):
    """Submit a file, or a directory packed as tar.gz. Prints the new object's id on the first line, then
    the job each trigger of its types makes (a site's new_objects sensor creates them within seconds)."""
    from orchestrator.follow import triggered_jobs, wait_for_jobs
    from orchestrator.runtime.models import Object

    client = client_from_env()
    obj = Object.model_validate(client.submit_path(path, list(types), name))
    click.echo(obj.id)
    jobs, untriggered = triggered_jobs(client, obj)
    for job in jobs:
        click.echo(f"job {job.job_id}  workflow {job.trigger.workflow_id}  (trigger {job.trigger.id})")
    if untriggered:
        click.echo(
            f"warning: no trigger starts anything for type(s) {', '.join(untriggered)}, so no job is made for them; "
            "once one is added, `orchestrator triggers backfill TRIGGER` makes the jobs it missed",
            err=True,
        )
    if wait and jobs:
        ended = wait_for_jobs(client, [job.job_id for job in jobs], timeout=timeout)
        if any(job.status != "succeeded" for job in ended):
            sys.exit(1)


@cli.command("register")
def register_command():
    """Register this site's catalog with the runtime: object types and triggers from triggers/, and
    every workflow in the registry (admin credentials; idempotent)."""
    from orchestrator.catalog import register_catalog
    from orchestrator.settings import Settings
    from orchestrator.workflows.triggers import TriggerFileError, load_triggers

    settings = Settings()
    try:
        trigger_set = load_triggers(settings.triggers_dir)
    except TriggerFileError as exc:
        raise click.ClickException(str(exc)) from None
    register_catalog(client_from_env(settings), trigger_set)
    click.echo(f"registered {len(trigger_set.object_types)} object type(s) and {len(trigger_set.triggers)} trigger(s)")


@cli.command("check")
@click.argument("path", default=".", type=click.Path(path_type=Path))
def check_command(path: Path):
    """Validate a project.yaml (or the one in directory PATH): every problem at once, exit 1 if any."""
    from orchestrator.pipeline.check import main as check_main

    sys.exit(check_main(path))


@cli.command("token")
def token_command():
    """Print an access token for the configured credentials (for curl: -H "Authorization: Bearer $TOKEN")."""
    click.echo(client_from_env().token())


@cli.group("jobs")
def jobs_group():
    """List, show, cancel, release and retry jobs."""


@jobs_group.command("list")
@click.option("--status", type=click.Choice(["open", "claimed", "succeeded", "failed", "cancelled"]))
@click.option("--workflow", "workflow_id")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10_000), help="Show the newest N.")
@click.option("--json", "as_json", is_flag=True, help="The jobs as JSON, newest first.")
def jobs_list(status, workflow_id, limit, as_json):
    """The newest jobs first, optionally only those of one status or workflow."""
    jobs = client_from_env().newest_jobs(limit, status=status, workflow_id=workflow_id)
    if as_json:
        render.echo_json(jobs)
    elif not jobs:
        click.echo("no jobs" + (" matching" if status or workflow_id else " yet"))
    else:
        render.job_rows(jobs)


@jobs_group.command("show")
@click.argument("job_id")
@click.option("--json", "as_json", is_flag=True)
def jobs_show(job_id, as_json):
    """A job, with its current operation: progress per action, then the result or the error."""
    client = client_from_env()
    job = client.get_job(job_id)
    operation = client.get_operation(job.operation_id) if job.operation_id else None
    if as_json:
        click.echo(
            json.dumps(
                {**job.model_dump(mode="json"), "operation": operation.model_dump(mode="json") if operation else None},
                indent=2,
            )
        )
    else:
        render.show_job(job, operation)


@jobs_group.command("cancel")
@click.argument("job_id")
def jobs_cancel(job_id):
    """Cancel an open job, or ask the site running a claimed one to stop it."""
    render.echo_json(client_from_env().cancel_job(job_id))


@jobs_group.command("release")
@click.argument("job_id")
def jobs_release(job_id):
    """Take a claimed job back from its site and return it to the queue (admin)."""
    render.echo_json(client_from_env().release_job(job_id))


@jobs_group.command("retry")
@click.argument("job_id")
def jobs_retry(job_id):
    """Open a failed or cancelled job again; a site claims it as a new run (its old operations stay)."""
    render.echo_json(client_from_env().retry_job(job_id))


@cli.group("ops")
def ops_group():
    """Show operations (a site's claim on a job: progress, result or error)."""


@ops_group.command("show")
@click.argument("operation_id")
@click.option("--json", "as_json", is_flag=True)
def ops_show(operation_id, as_json):
    """An operation: its site, step and message, each action's state and times, the result or error."""
    operation = client_from_env().get_operation(operation_id)
    render.echo_json(operation) if as_json else render.show_operation(operation)


@cli.group("objects")
def objects_group():
    """List and show submitted objects."""


@objects_group.command("list")
@click.option("--type", "types", multiple=True, help="Only objects of this type (repeatable).")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10_000), help="Show the newest N.")
@click.option("--json", "as_json", is_flag=True)
def objects_list(types, limit, as_json):
    """The newest objects first."""
    objects = client_from_env().newest_objects(limit, types=list(types))
    if as_json:
        render.echo_json(objects)
    elif not objects:
        click.echo("no objects yet")
    else:
        render.object_rows(objects)


@objects_group.command("show")
@click.argument("object_id")
@click.option("--json", "as_json", is_flag=True)
def objects_show(object_id, as_json):
    obj = client_from_env().get_object(object_id)
    render.echo_json(obj) if as_json else render.show_object(obj)


@cli.group("workflows")
def workflows_group():
    """What the runtime's sites can run."""


@workflows_group.command("list")
def workflows_list():
    workflows = client_from_env().list_workflows()
    render.table(
        ("WORKFLOW", "DAGSTER JOB", "CAPABILITIES", "NAME"),
        [(w.id, w.dagster_job, ",".join(w.capability_ids) or "-", w.name) for w in workflows],
    )


@cli.group("triggers")
def triggers_group():
    """Which object types start which workflows; make the jobs a trigger missed."""


@triggers_group.command("list")
def triggers_list():
    render.table(
        ("TRIGGER", "OBJECT TYPE", "WORKFLOW"),
        [(t.id, t.object_type_id, t.workflow_id) for t in client_from_env().list_triggers()],
    )


@triggers_group.command("backfill")
@click.argument("trigger_id")
@click.option(
    "--since",
    default=0,
    show_default=True,
    type=click.IntRange(0),
    help="Only objects with a seq greater than this (`objects list --json` shows seqs).",
)
def triggers_backfill(trigger_id, since):
    """Make the jobs TRIGGER would have made for objects submitted before it existed (idempotent: the jobs
    have the ids the site's sensor gives them, so existing ones are left alone)."""
    from orchestrator.sensors.new_objects import make_trigger_jobs

    client = client_from_env()
    trigger = client.get_trigger(trigger_id)
    created = existing = 0
    for obj in client.iterate_objects(types=[trigger.object_type_id], after_seq=since):
        made, found = make_trigger_jobs(client, obj.id, [trigger])
        created, existing = created + made, existing + found
    click.echo(
        f"trigger {trigger.id}: {created} job(s) created, {existing} already existed "
        f"(objects of type {trigger.object_type_id} after seq {since})"
    )


def unreachable_message(exc: RuntimeClientError) -> str:
    return (
        f"error: UNREACHABLE: no runtime answers at {exc.details.get('url')} (ORCHESTRATOR_URL, else the one "
        "`orchestrator up` saved).\nStart one with `make run` (or `.venv/bin/orchestrator up`; the API alone: "
        "`orchestrator runtime serve`), or point ORCHESTRATOR_URL at a running one."
    )


def main() -> None:
    from pydantic import ValidationError
    from sqlalchemy.exc import OperationalError

    try:
        startup.start("WARNING")  # a command's output is for people: our INFO lines only with LOGLEVEL=INFO
    except startup.LogLevelError as exc:
        click.echo(f"error: INVALID_SETTING: {exc}", err=True)
        sys.exit(2)
    try:
        cli(standalone_mode=True)
    except RuntimeClientError as exc:
        click.echo(
            unreachable_message(exc) if exc.code == "UNREACHABLE" else f"error: {exc.code}: {exc.message}", err=True
        )
        sys.exit(1)
    except RuntimeApiError as exc:
        click.echo(f"error: {exc.code}: {exc.message}", err=True)
        sys.exit(1)
    except ValidationError as exc:  # e.g. `runtime create-site 'bad id'`
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in exc.errors())
        click.echo(f"error: INVALID_ARGUMENT: {problems}", err=True)
        sys.exit(1)
    except OperationalError as exc:  # `runtime ...` commands talk to the database directly
        click.echo(
            f"error: DATABASE_UNREACHABLE: {exc.orig or exc}".rstrip()
            + "\n(check ORCHESTRATOR_DATABASE_URL and that the server is running)",
            err=True,
        )
        sys.exit(1)


if __name__ == "__main__":
    main()
