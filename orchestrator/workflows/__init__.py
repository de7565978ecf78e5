"""The workflow registry: workflow id -> the Dagster job that runs it, and what it needs and makes.

Adding a workflow: a module here with its job, an entry in WORKFLOWS, a file in triggers/, a test.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

import dagster as dg

from orchestrator.workflows import apply_changesheet, batch, curate_metadata, metadata_in, pipeline


@dataclass(frozen=True)
class ObjectTypeSpec:
    id: str
    name: str
    description: str = ""


@dataclass(frozen=True)
class WorkflowSpec:
    id: str
    name: str
    job: dg.JobDefinition
    description: str = ""
    capability_ids: tuple[str, ...] = ()
    produces: tuple[ObjectTypeSpec, ...] = field(default=())  # object types its runs register
    config_problem: Callable[[dict], str | None] = lambda config: None  # checks a trigger's config
    # Jobs one run may hold; more than one only for a job made by workflows.batch.batch_job (light jobs).
    batch_size: int = 1

    def __post_init__(self):
        if self.batch_size < 1 or self.batch_size > 1 and self.job.tags.get(batch.KIND_TAG) != "batch":
            raise ValueError(f"workflow {self.id}: batch_size {self.batch_size} needs a job made by batch_job")

    def check_config(self, config: dict) -> str | None:
        return self.config_problem(config)


WORKFLOWS: dict[str, WorkflowSpec] = {
    spec.id: spec
    for spec in [
        WorkflowSpec(
            id=metadata_in.WORKFLOW_ID,
            name="Validate metadata",
            job=metadata_in.metadata_in_job,
            description="Validate a metadata document set against a JSON Schema and ingest it into the metadata store.",
            produces=(
                ObjectTypeSpec(
                    "metadata-validated", "Validated metadata", "A metadata document that passed validation."
                ),
            ),
            config_problem=metadata_in.config_problem,
        ),
        WorkflowSpec(
            id=apply_changesheet.WORKFLOW_ID,
            name="Apply a metadata changesheet",
            job=apply_changesheet.apply_changesheet_job,
            description="Apply a changesheet to the metadata store: every row or none, each changed document valid.",
            config_problem=apply_changesheet.config_problem,
        ),
        WorkflowSpec(
            id=curate_metadata.WORKFLOW_ID,
            name="Curate metadata",
            job=curate_metadata.curate_metadata_job,
            description="A curation report over new documents of a collection; its jobs come from a sensor.",
            config_problem=curate_metadata.config_problem,
        ),
        WorkflowSpec(
            id=pipeline.WORKFLOW_ID,
            name="Run pipeline actions",
            job=pipeline.pipeline_job,
            description="Run a study's project.yaml actions (OpenSAFELY-style) in a persistent workspace at the site.",
            config_problem=pipeline.config_problem,
        ),
    ]
}
