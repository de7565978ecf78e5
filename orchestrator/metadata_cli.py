"""`orchestrator metadata ...`: the runtime's metadata store from the command line -- its collections,
documents (filtered on top-level fields), one document; check and submit changesheets."""

import json
import sys
from pathlib import Path

import click

from orchestrator import render
from orchestrator.client_config import client_from_env
from orchestrator.runtime.models import job_id_for

APPLY_WORKFLOW = "apply-changesheet-1.0.0"
schema_option = click.option(
    "--schema", default="study-metadata", show_default=True, help="The JSON Schema changed documents must pass."
)


@click.group("metadata")
def metadata_group():
    """The metadata store: collections, documents, changesheets."""


@metadata_group.command("collections")
def collections_command():
    """The collections and how many documents each holds."""
    render.table(("COLLECTION", "DOCUMENTS"), [(c.name, c.count) for c in client_from_env().metadata_collections()])


@metadata_group.command("list")
@click.argument("collection")
@click.option("--where", help='A JSON object of top-level fields and values, e.g. \'{"env_medium": "soil"}\'.')
def list_command(collection: str, where: str | None):
    """A collection's documents, one line each (id, version, last writer)."""
    try:
        condition = json.loads(where) if where else None
    except ValueError:
        raise click.BadParameter("not JSON", param_hint="--where") from None
    rows = [(d.id, d.version, d.updated_by) for d in client_from_env().metadata_documents(collection, condition)]
    render.table(("ID", "VERSION", "WRITTEN BY"), rows)


@metadata_group.command("show")
@click.argument("collection")
@click.argument("document_id")
def show_command(collection: str, document_id: str):
    """One document, as JSON."""
    click.echo(json.dumps(client_from_env().metadata_document(collection, document_id).document, indent=2))


def _checked(path: Path, schema: str):
    """The check of the changesheet at `path`; its problems printed and exit 1 when it is not valid."""
    check = client_from_env().validate_changesheet(path.read_bytes(), schema)
    if not check.valid:
        for problem in check.problems:
            where = f"line {problem['line']}" if problem.get("line") else "the file"
            named = f"{problem['id']}: " if problem.get("id") else ""
            click.echo(f"{path}: {where}: {named}{problem['message']}")
        click.echo(f"{check.problem_count} problem(s); nothing changes", err=True)
        sys.exit(1)
    return check


@metadata_group.command("check-changesheet")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@schema_option
def check_changesheet_command(path: Path, schema: str):
    """Check a changesheet against the store as it is now: every problem (exit 1), or what it would change."""
    check = _checked(path, schema)
    for change in check.changes:
        click.echo(f"{change.collection}/{change.id}: version {change.version - 1} -> {change.version}")
    click.echo(f"valid: {check.rows} row(s) change {len(check.changes)} document(s)")


@metadata_group.command("submit-changesheet")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@schema_option
@click.option("--wait", is_flag=True, help="Follow the job that applies it to its end; exit 1 unless it succeeds.")
@click.option("--timeout", type=click.FloatRange(min=1), help="With --wait: give up after this many seconds.")
def submit_changesheet_command(path: Path, schema: str, wait: bool, timeout: float | None):
    """Submit a valid changesheet; a site applies it (every row or none). Prints the object and its job."""
    from orchestrator.follow import wait_for_jobs

    _checked(path, schema)
    client = client_from_env()
    obj = client.submit_changesheet(path.read_bytes(), schema, path.name)
    job_id = job_id_for(APPLY_WORKFLOW, [obj.id])
    click.echo(obj.id)
    click.echo(f"job {job_id}  workflow {APPLY_WORKFLOW}")
    if wait and wait_for_jobs(client, [job_id], timeout=timeout)[0].status != "succeeded":
        sys.exit(1)
