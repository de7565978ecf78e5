"""Workflow `metadata-in-1.0.0` (after the NMDC runtime's metadata-in): validate a submitted document
set ({collection: [document, ...]}) against the JSON Schema its trigger names, ingest it into the
runtime's metadata store -- every document or none; ids that exist fail it, named, unless the trigger's
config says `replace: true` -- and register it as a new object of type `metadata-validated` (which may
trigger further workflows). The result says what was inserted and replaced."""

import json
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from orchestrator import schemas
from orchestrator.resources import RuntimeResource
from orchestrator.runtime.client import RuntimeClientError
from orchestrator.workflows.common import (
    JobInput,
    WorkflowFailure,
    load_input,
    report_failure,
    report_progress,
    report_result,
)

WORKFLOW_ID = "metadata-in-1.0.0"


def load_schema(name: str) -> dict:
    try:
        return schemas.load_schema(name)
    except schemas.UnknownSchema as exc:
        raise WorkflowFailure("UNKNOWN_SCHEMA", str(exc), {"schema": name}) from None


def config_problem(config: dict) -> str | None:
    """A trigger must name a schema that exists, and `replace` is true or false; checked when definitions
    load, not at run time."""
    try:
        load_schema(config.get("schema", ""))
    except WorkflowFailure as exc:
        return exc.message
    if not isinstance(config.get("replace", False), bool):
        return f"replace must be true or false, not {config['replace']!r}"
    return None


@dataclass(frozen=True)
class Ingested:
    job_input: JobInput
    inserted: dict[str, list[str]]
    replaced: dict[str, list[str]]


@dg.op(description="Validate the document against the trigger's JSON Schema.")
def validate_document(context: dg.OpExecutionContext, runtime: RuntimeResource, job_input: JobInput) -> JobInput:
    schema_name = job_input.config.get("schema", "")
    schema = load_schema(schema_name)
    try:
        document = json.loads(Path(job_input.paths[0]).read_bytes())
    except (ValueError, UnicodeDecodeError) as exc:
        raise WorkflowFailure("INVALID_JSON", f"The document is not valid JSON: {exc}.") from None
    errors = schemas.validation_errors(document, schema)
    context.add_output_metadata({"schema": schema_name, "errors": len(errors)})
    if errors:
        raise WorkflowFailure(
            "VALIDATION_FAILED",
            f"{len(errors)} validation error(s) against schema {schema_name!r}.",
            {"schema": schema_name, "errors": errors},
        )
    report_progress(context, runtime, step="validate_document", status_message="valid")
    return job_input


# Refusals of the ingest that are the submission's doing: final, with the runtime's code and details.
INGEST_REFUSALS = ("DOCUMENTS_EXIST", "INVALID_DOCUMENT_SET", "DOCUMENT_SET_TOO_LARGE")


@dg.op(description="Ingest the document set into the metadata store: every document or none.")
def ingest_documents(context: dg.OpExecutionContext, runtime: RuntimeResource, job_input: JobInput) -> Ingested:
    replace = bool(job_input.config.get("replace", False))
    try:
        result = runtime.client().ingest_metadata(
            job_input.objects[0]["id"], replace=replace, operation_id=job_input.operation_id
        )
    except RuntimeClientError as exc:
        if exc.code in INGEST_REFUSALS:
            raise WorkflowFailure(exc.code, exc.message, exc.details) from None
        raise
    counts = {"inserted": sum(map(len, result.inserted.values())), "replaced": sum(map(len, result.replaced.values()))}
    context.add_output_metadata({**counts, "replace": replace})
    report_progress(context, runtime, step="ingest_documents", status_message=f"ingested: {counts}")
    return Ingested(job_input, result.inserted, result.replaced)


@dg.op(description="Register the valid document set as a new `metadata-validated` object.")
def register_validated(context: dg.OpExecutionContext, runtime: RuntimeResource, ingested: Ingested) -> dict:
    job_input = ingested.job_input
    source = job_input.objects[0]
    validated = runtime.client().create_object(
        Path(job_input.paths[0]),
        name=source["name"],
        types=["metadata-validated"],
        mime_type="application/json",
        description=f"{source['id']} validated",
    )
    context.add_output_metadata({"object_id": validated["id"]})
    return {
        "valid": True,
        "schema": job_input.config["schema"],
        "object_id": validated["id"],
        "inserted": ingested.inserted,
        "replaced": ingested.replaced,
    }


@dg.job(
    name="metadata_in",
    hooks={report_failure},
    description="Validate a metadata document set and ingest it into the metadata store (metadata-in-1.0.0).",
)
def metadata_in_job():
    report_result(register_validated(ingest_documents(validate_document(load_input()))))
