"""How the `orchestrator` command shows the runtime's models to people: plain aligned text.

Times are ISO 8601 in UTC everywhere (the models' datetimes, and the ISO strings a site writes into
an operation's per-action states); `--json` on a command prints the model itself instead.
"""

import json
from datetime import UTC, datetime

import click
from pydantic import BaseModel

from orchestrator.runtime.models import Job, Object, Operation

FINAL_JOB_STATES = ("succeeded", "failed", "cancelled")


def iso(value: datetime | str | None) -> str:
    """UTC, to the second, with a Z: 2026-12-02T07:39:30Z."""
    if value is None:
        return "-"
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:  # SQLite hands back naive datetimes; the runtime writes UTC
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def echo_json(model: BaseModel | list[BaseModel]) -> None:
    if isinstance(model, list):
        click.echo("[" + ",\n".join(m.model_dump_json(indent=2) for m in model) + "]")
    else:
        click.echo(model.model_dump_json(indent=2))


def table(header: tuple[str, ...], rows: list[tuple]) -> None:
    """Columns as wide as their widest cell; the last one is left ragged."""
    cells = [tuple(map(str, header))] + [tuple(map(str, row)) for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header) - 1)]
    for row in cells:
        click.echo(
            "  ".join([cell.ljust(width) for cell, width in zip(row, widths, strict=False)] + [row[-1]]).rstrip()
        )


def fields(pairs: list[tuple[str, object]]) -> None:
    width = max(len(name) for name, _ in pairs) + 1
    for name, value in pairs:
        click.echo(f"{name + ':':<{width}} {value}")


def job_rows(jobs: list[Job]) -> None:
    table(
        ("CREATED", "JOB", "WORKFLOW", "STATUS", "ATTEMPTS", "INPUTS"),
        [
            (
                iso(j.created_at),
                j.id,
                j.workflow_id,
                j.status,
                f"{j.attempts}/{j.max_attempts}",
                ",".join(j.inputs) or "-",
            )
            for j in jobs
        ],
    )


def show_job(job: Job, operation: Operation | None) -> None:
    fields(
        [
            ("job", job.id),
            ("workflow", job.workflow_id),
            ("status", job.status),
            ("attempts", f"{job.attempts} of {job.max_attempts}"),
            ("inputs", ", ".join(job.inputs) or "-"),
            ("config", _compact(job.config) if job.config else "-"),
            ("created", iso(job.created_at)),
            ("updated", iso(job.updated_at)),
            ("operation", job.operation_id or "-"),
        ]
    )
    if operation is not None:
        click.echo()
        show_operation(operation)


def show_operation(op: Operation) -> None:
    meta = op.metadata
    fields(
        [
            ("operation", op.id),
            ("job", op.job_id),
            ("site", op.site_id),
            ("state", operation_state(op)),
            ("step", meta.get("step", "-")),
            ("message", meta.get("status_message", "-")),
            ("dagster run", meta.get("dagster_run_id", "-")),
            ("created", iso(op.created_at)),
            ("updated", iso(op.updated_at)),
            ("lease until", iso(op.lease_expires_at) if not op.done else "-"),
            ("cancel asked", "yes" if op.cancel_requested else "no"),
        ]
    )
    actions = meta.get("actions") or {}
    if actions:
        click.echo()
        action_rows(actions)
    if op.error:
        click.echo()
        fields(
            [("error", op.error.get("code", "?")), ("message", op.error.get("message", ""))]
            + ([("details", _compact(op.error["details"]))] if op.error.get("details") else [])
        )
    if op.result:
        click.echo()
        click.echo("result:")
        for key, value in op.result.items():
            if key != "actions":  # already shown as the table above
                click.echo(f"  {key}: {_compact(value)}")


def action_rows(actions: dict) -> None:
    table(
        ("ACTION", "STATE", "CODE", "STARTED", "FINISHED", "MESSAGE"),
        [
            (
                name,
                a.get("state") or "-",
                a.get("status_code", "-"),
                iso(a.get("started_at")),
                iso(a.get("finished_at")),
                a.get("status_message", a.get("decision", "")),
            )
            for name, a in actions.items()
        ],
    )


def operation_state(op: Operation) -> str:
    if not op.done:
        return "cancelling" if op.cancel_requested else "running"
    return f"failed ({op.error.get('code', '?')})" if op.error else "done"


def object_rows(objects: list[Object]) -> None:
    table(
        ("CREATED", "OBJECT", "TYPES", "SIZE", "STATUS", "NAME"),
        [(iso(o.created_time), o.id, ",".join(o.types), o.size, o.status, o.name) for o in objects],
    )


def show_object(obj: Object) -> None:
    fields(
        [
            ("object", obj.id),
            ("name", obj.name),
            ("types", ", ".join(obj.types)),
            ("size", f"{obj.size} bytes"),
            ("mime type", obj.mime_type),
            ("sha256", obj.checksums_sha256()),
            ("status", obj.status),
            ("created", iso(obj.created_time)),
            ("site", obj.site_id or "-"),
            ("description", obj.description or "-"),
        ]
    )


def _compact(value) -> str:
    return json.dumps(value, default=str, separators=(", ", ": "))


def json_option(command):
    """`--json` on a command: print the models as JSON instead of a table (for scripts)."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")(command)
