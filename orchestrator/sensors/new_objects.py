"""New-objects sensor: objects whose types have triggers become jobs (idempotently).

The cursor is the last object `seq` handled; each tick asks the runtime only for objects after it
(an index range scan there), so a tick costs O(new objects) however long the history.
"""

from collections.abc import Iterable
from typing import Protocol

import dagster as dg

from orchestrator.resources import RuntimeResource, SiteResource
from orchestrator.runtime.client import RuntimeClient, RuntimeClientError
from orchestrator.workflows.triggers import TriggerSet


class TriggerLike(Protocol):
    workflow_id: str
    config: dict


def make_trigger_jobs(client: RuntimeClient, object_id: str, triggers: Iterable[TriggerLike]) -> tuple[int, int]:
    """The job each trigger makes of one object; (created, already existed). The runtime derives the id from
    (workflow, object), so the sensor and `orchestrator triggers backfill` make the same jobs, never twice."""
    created = existing = 0
    for trigger in triggers:
        if client.ensure_job(trigger.workflow_id, [object_id], trigger.config):
            created += 1
        else:
            existing += 1
    return created, existing


def make_new_objects_sensor(trigger_set: TriggerSet, interval: int = 2) -> dg.SensorDefinition:
    type_ids = sorted({t.object_type_id for t in trigger_set.triggers})

    @dg.sensor(
        name="new_objects",
        minimum_interval_seconds=interval,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Creates a job for each new object of a triggered type ({', '.join(type_ids) or 'none'}).",
    )
    def new_objects(context: dg.SensorEvaluationContext, runtime: RuntimeResource, site: SiteResource):
        if not type_ids:
            return dg.SkipReason("No trigger files: nothing to watch.")
        client = runtime.client()
        cursor = int(context.cursor or 0)
        objects = client.objects_after(cursor, types=type_ids, limit=site.object_batch)
        created = existing = 0
        refused: list[str] = []
        for obj in objects:
            matching = {t.id: t for type_id in obj.types for t in trigger_set.for_type(type_id)}
            try:
                made, found = make_trigger_jobs(client, obj.id, matching.values())
                created, existing = created + made, existing + found
            except RuntimeClientError as exc:
                if not exc.permanent:
                    # The runtime is down or overloaded: keep what this tick handled and retry this object next tick.
                    context.log.warning(f"Creating the job of object {obj.id} failed ({exc}); retrying next tick.")
                    break
                # The runtime refuses this job for good (e.g. 409: a trigger's config changed after the job was made);
                # retrying would stall every later object behind it, so say so and move on.
                context.log.error(f"Object {obj.id}: the runtime refused its job ({exc}); skipped.")
                refused.append(f"{obj.id} ({exc.code})")
            cursor = obj.seq  # only past what was handled
        message = f"{len(objects)} new object(s): {created} job(s) created, {existing} already existed."
        if refused:
            message += f" Refused: {', '.join(refused)}."
        return dg.SensorResult(cursor=str(cursor), skip_reason=message)

    return new_objects
