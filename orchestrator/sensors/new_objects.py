"""New-objects sensor: objects whose types have triggers become jobs (idempotently).

The cursor is the last object `seq` handled; each tick asks the runtime only for objects after it
(an index range scan there), so a tick costs O(new objects) however long the history.
"""
import dagster as dg

from orchestrator.resources import RuntimeResource, SiteResource
from orchestrator.workflows.triggers import TriggerSet


def make_new_objects_sensor(trigger_set: TriggerSet, interval: int = 2) -> dg.SensorDefinition:
    type_ids = sorted({t.object_type_id for t in trigger_set.triggers})

    @dg.sensor(name="new_objects", minimum_interval_seconds=interval, default_status=dg.DefaultSensorStatus.RUNNING,
               description=f"Creates a job for each new object of a triggered type ({', '.join(type_ids) or 'none'}).")
    def new_objects(context: dg.SensorEvaluationContext, runtime: RuntimeResource, site: SiteResource):
        if not type_ids:
            return dg.SkipReason("No trigger files: nothing to watch.")
        client = runtime.client()
        cursor = int(context.cursor or 0)
        page = client.get("/objects", types=type_ids, after_seq=cursor, limit=site.object_batch)
        created = existing = 0
        for obj in page["items"]:
            matching = {t.id: t for type_id in obj["types"] for t in trigger_set.for_type(type_id)}
            for trigger in matching.values():
                response = client.request("POST", "/jobs", json={"workflow_id": trigger.workflow_id, "inputs": [obj["id"]],
                                                                 "config": trigger.config})
                created, existing = (created + 1, existing) if response.status_code == 201 else (created, existing + 1)
            cursor = obj["seq"]  # only past what was handled: a failure above retries this object next tick
        message = f"{len(page['items'])} new object(s): {created} job(s) created, {existing} already existed."
        return dg.SensorResult(cursor=str(cursor), skip_reason=message)

    return new_objects
