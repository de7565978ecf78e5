"""Workflow `apply-changesheet-1.0.0` (after NMDC's apply-changesheet): a `metadata-changesheet` object,
checked when it was submitted, is applied to the metadata store now -- every row or none, and only if
each changed document still passes the trigger's JSON Schema. The result lists each changed document
with its version and its before and after."""

import dagster as dg

from orchestrator import schemas
from orchestrator.resources import RuntimeResource
from orchestrator.runtime.client import RuntimeClientError
from orchestrator.workflows.common import JobInput, WorkflowFailure, load_input, report_failure, report_result

WORKFLOW_ID = "apply-changesheet-1.0.0"


def config_problem(config: dict) -> str | None:
    """The trigger names a schema that exists (checked when definitions load)."""
    try:
        schemas.load_schema(config.get("schema", ""))
    except schemas.UnknownSchema as exc:
        return str(exc)
    return None


@dg.op(description="Apply the changesheet to the metadata store: every row or none.")
def apply_changes(context: dg.OpExecutionContext, runtime: RuntimeResource, job_input: JobInput) -> dict:
    sheet = job_input.objects[0]
    try:
        result = runtime.client().apply_changesheet(
            sheet["id"], schema=job_input.config["schema"], operation_id=job_input.operation_id
        )
    except RuntimeClientError as exc:
        if exc.code in ("INVALID_CHANGESHEET", "UNKNOWN_SCHEMA"):  # the changesheet's (or trigger's) doing: final
            raise WorkflowFailure(exc.code, exc.message, exc.details) from None
        raise
    for change in result.changes:
        context.log.info(f"changed {change.collection}/{change.id} (now version {change.version})")
    context.add_output_metadata({"documents changed": len(result.changes), "changesheet": sheet["id"]})
    return {"changesheet": sheet["id"], "changes": [change.model_dump(mode="json") for change in result.changes]}


@dg.job(
    name="apply_changesheet",
    hooks={report_failure},
    description="Apply a metadata changesheet to the metadata store (apply-changesheet-1.0.0).",
)
def apply_changesheet_job():
    report_result(apply_changes(load_input()))
