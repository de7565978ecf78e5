"""The `orchestrator` command: submit objects, inspect and steer jobs and operations, run the runtime.

Client commands reach the runtime at ORCHESTRATOR_URL with ORCHESTRATOR_USERNAME/PASSWORD (or a
site's ORCHESTRATOR_CLIENT_ID/SECRET), falling back to the credentials `orchestrator up` saved.
"""
import json
import sys
from pathlib import Path

import click

from orchestrator.client_config import client_from_env
from orchestrator.runtime.client import RuntimeClientError, quote_id
from orchestrator.runtime.errors import RuntimeApiError
from orchestrator.runtime.cli import runtime_group
from orchestrator.pipeline.cli import run_command
from orchestrator.up import up_command


def _print(obj) -> None:
    click.echo(json.dumps(obj, indent=2, default=str))


@click.group()
def cli():
    """Submit objects to the runtime and watch the jobs they trigger."""


cli.add_command(runtime_group)
cli.add_command(up_command)
cli.add_command(run_command)


@cli.command("submit")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--type", "types", multiple=True, required=True, help="Object type (repeatable), e.g. study.")
@click.option("--name", help="Defaults to the file name (a directory becomes NAME.tar.gz).")
def submit_command(path: Path, types: tuple[str, ...], name: str | None):
    """Submit a file, or a directory packed as tar.gz; print the new object's id."""
    click.echo(client_from_env().submit_path(path, list(types), name)["id"])


@cli.command("register")
def register_command():
    """Register this site's catalog with the runtime: object types and triggers from triggers/, and
    every workflow in the registry (admin credentials; idempotent)."""
    from orchestrator.catalog import register_catalog
    from orchestrator.workflows.triggers import TriggerFileError, load_triggers

    try:
        trigger_set = load_triggers()
    except TriggerFileError as exc:
        raise click.ClickException(str(exc)) from None
    register_catalog(client_from_env(), trigger_set)
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
    """List, show, cancel and release jobs."""


@jobs_group.command("list")
@click.option("--status", type=click.Choice(["open", "claimed", "succeeded", "failed", "cancelled"]))
@click.option("--workflow", "workflow_id")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000))
@click.option("--after-seq", default=0, type=click.IntRange(0))
def jobs_list(status, workflow_id, limit, after_seq):
    """One page of jobs, oldest first; pass --after-seq to page on."""
    page = client_from_env().get("/jobs", status=status, workflow_id=workflow_id, limit=limit, after_seq=after_seq)
    for job in page["items"]:
        click.echo(f"{job['seq']:>6}  {job['id']}  {job['workflow_id']:<24} {job['status']:<10} attempts={job['attempts']}")
    if page["next_after_seq"] is not None:
        click.echo(f"(more: --after-seq {page['next_after_seq']})")


@jobs_group.command("show")
@click.argument("job_id")
def jobs_show(job_id):
    _print(client_from_env().get(f"/jobs/{quote_id(job_id)}"))


@jobs_group.command("cancel")
@click.argument("job_id")
def jobs_cancel(job_id):
    """Cancel an open job, or ask the site running a claimed one to stop it."""
    _print(client_from_env().post(f"/jobs/{quote_id(job_id)}:cancel"))


@jobs_group.command("release")
@click.argument("job_id")
def jobs_release(job_id):
    """Take a claimed job back from its site and return it to the queue (admin)."""
    _print(client_from_env().post(f"/jobs/{quote_id(job_id)}:release"))


@jobs_group.command("retry")
@click.argument("job_id")
def jobs_retry(job_id):
    """Open a failed or cancelled job again; a site claims it as a new run (its old operations stay)."""
    _print(client_from_env().retry_job(job_id))


@cli.group("ops")
def ops_group():
    """Show operations (a site's claim on a job: progress, result or error)."""


@ops_group.command("show")
@click.argument("operation_id")
def ops_show(operation_id):
    _print(client_from_env().get(f"/operations/{quote_id(operation_id)}"))


def main() -> None:
    from pydantic import ValidationError
    from sqlalchemy.exc import OperationalError

    try:
        cli(standalone_mode=True)
    except (RuntimeClientError, RuntimeApiError) as exc:
        click.echo(f"error: {exc.code}: {exc.message}", err=True)
        sys.exit(1)
    except ValidationError as exc:  # e.g. `runtime create-site 'bad id'`
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in exc.errors())
        click.echo(f"error: INVALID_ARGUMENT: {problems}", err=True)
        sys.exit(1)
    except OperationalError as exc:  # `runtime ...` commands talk to the database directly
        click.echo(f"error: DATABASE_UNREACHABLE: {exc.orig or exc}".rstrip()
                   + "\n(check ORCHESTRATOR_DATABASE_URL and that the server is running)", err=True)
        sys.exit(1)



if __name__ == "__main__":
    main()
