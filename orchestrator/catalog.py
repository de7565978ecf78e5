"""Registering a site's catalog with the runtime: the object types, workflows and triggers that the
trigger files and the workflow registry describe. Idempotent (PUT by id), so every start may run it."""

from orchestrator.runtime.client import RuntimeClient
from orchestrator.runtime.models import ObjectType, Trigger, Workflow
from orchestrator.workflows import WORKFLOWS
from orchestrator.workflows.triggers import TriggerSet


def register_catalog(admin: RuntimeClient, trigger_set: TriggerSet) -> None:
    for kind in trigger_set.object_types:
        admin.put_object_type(ObjectType(id=kind.id, name=kind.name, description=kind.description))
    for spec in WORKFLOWS.values():
        admin.put_workflow(
            Workflow(
                id=spec.id,
                name=spec.name,
                description=spec.description,
                dagster_job=spec.job.name,
                capability_ids=list(spec.capability_ids),
            )
        )
    for trigger in trigger_set.triggers:
        admin.put_trigger(
            Trigger(
                id=trigger.id,
                object_type_id=trigger.object_type_id,
                workflow_id=trigger.workflow_id,
                config=trigger.config,
            )
        )


def all_capabilities() -> list[str]:
    return sorted({c for spec in WORKFLOWS.values() for c in spec.capability_ids})
