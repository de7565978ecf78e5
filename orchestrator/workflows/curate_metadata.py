"""Workflow `curate-metadata-1.0.0`: a curation report over a run of new documents of one collection --
how many there are and how many carry each top-level field, so a curator sees what is missing. No
trigger file makes its jobs: the curation sensor (orchestrator/sensors/curation.py) does, once enough
new documents exist."""

from collections import Counter

import dagster as dg

from orchestrator.resources import RuntimeResource
from orchestrator.workflows.common import JobInput, WorkflowFailure, load_input, report_failure, report_result

WORKFLOW_ID = "curate-metadata-1.0.0"


def config_problem(config: dict) -> str | None:
    if not isinstance(config.get("collection"), str):
        return "collection must name a metadata collection"
    if not all(isinstance(config.get(key), int) for key in ("after_seq", "through_seq")):
        return "after_seq and through_seq must be document seqs (integers)"
    return None


@dg.op(description="Read the collection's documents after after_seq through through_seq and report what they hold.")
def summarise_documents(context: dg.OpExecutionContext, runtime: RuntimeResource, job_input: JobInput) -> dict:
    config = job_input.config
    if problem := config_problem(config):
        raise WorkflowFailure("INVALID_CONFIG", problem, {"config": config})
    collection, through = config["collection"], config["through_seq"]
    pages = runtime.client().iterate(f"/metadata/{collection}", 1000, after_seq=config["after_seq"])
    documents, fields = 0, Counter()
    for item in pages:
        if item["seq"] > through:
            break
        documents += 1
        fields.update(item["document"].keys())
    coverage = {field: count for field, count in sorted(fields.items())}
    context.add_output_metadata({"documents": documents, "fields": dg.MetadataValue.json(coverage)})
    return {
        "collection": collection,
        "after_seq": config["after_seq"],
        "through_seq": through,
        "documents": documents,
        "field_coverage": coverage,
        "incomplete_fields": sorted(field for field, count in coverage.items() if count < documents),
    }


@dg.job(
    name="curate_metadata",
    hooks={report_failure},
    description="A curation report over new documents of a metadata collection (curate-metadata-1.0.0).",
)
def curate_metadata_job():
    report_result(summarise_documents(load_input()))
