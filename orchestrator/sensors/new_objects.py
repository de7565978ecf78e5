"""New-objects sensor: objects whose types have triggers become jobs (idempotently), and, with free
run slots here, are claimed and launched in the same tick.

The cursor is the last object `seq` handled; each tick asks the runtime only for objects after it
(an index range scan there), so a tick costs O(new objects) however long the history. Claiming at
once saves a wait for the claim sensor: Dagster's sensor daemon evaluates sensors every 5 s at most
and in a new random order each pass, so a claim sensor saw a job opened in the same pass only about
half the time (bench/latency.py). A claim whose answer was lost keeps its key in the cursor, which
is then JSON {"seq": N, "pending": {workflow_id: key}}, and is sent again next tick.
"""

import json
from collections.abc import Iterable
from typing import Protocol

import dagster as dg

from orchestrator.runtime.client import RuntimeClient, RuntimeClientError
from orchestrator.sensors.claims import claim_runs, free_slots
from orchestrator.sensors.evaluation import SensorScope, site_sensor
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


def read_cursor(cursor: str | None) -> tuple[int, dict[str, str]]:
    """(last object seq handled, pending claim keys by workflow id); a plain number has none pending."""
    if cursor and cursor.startswith("{"):
        state = json.loads(cursor)
        return int(state["seq"]), dict(state.get("pending") or {})
    return int(cursor or 0), {}


def write_cursor(seq: int, pending: dict[str, str]) -> str:
    return json.dumps({"seq": seq, "pending": pending}, sort_keys=True) if pending else str(seq)


def make_new_objects_sensor(trigger_set: TriggerSet, interval: int = 2) -> dg.SensorDefinition:
    type_ids = sorted({t.object_type_id for t in trigger_set.triggers})
    workflows = {w.id: w for w in trigger_set.workflows()}

    @site_sensor(
        name="new_objects",
        jobs=[w.job for w in workflows.values()] or None,
        minimum_interval_seconds=interval,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Creates a job for each new object of a triggered type ({', '.join(type_ids) or 'none'}).",
    )
    def new_objects(context: dg.SensorEvaluationContext, scope: SensorScope):
        if not type_ids:
            return dg.SkipReason("No trigger files: nothing to watch.")
        client, site = scope.runtime.client(), scope.site
        cursor, pending = read_cursor(context.cursor)
        objects = client.objects_after(cursor, types=type_ids, limit=site.object_batch)
        created = existing = 0
        refused: list[str] = []
        opened: set[str] = set()  # workflows with a job opened this tick
        for obj in objects:
            matching = {t.id: t for type_id in obj.types for t in trigger_set.for_type(type_id)}
            try:
                made, found = make_trigger_jobs(client, obj.id, matching.values())
                created, existing = created + made, existing + found
                if made:
                    opened |= {t.workflow_id for t in matching.values()}
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
        runs = claim_what_was_opened(context, scope, opened, pending) if site.claim_on_open else []
        if runs:
            context.log.info(message)
            return dg.SensorResult(run_requests=runs, cursor=write_cursor(cursor, pending))
        return dg.SensorResult(cursor=write_cursor(cursor, pending), skip_reason=message)

    def claim_what_was_opened(context, scope: SensorScope, opened: set[str], pending: dict[str, str]) -> list:
        """Claim for each workflow with a job just opened (or a claim left unanswered) up to its free run
        slots; `pending` is updated in place with the keys of claims that got no answer."""
        runs = []
        for workflow_id in sorted(opened | set(pending)):
            workflow = workflows.get(workflow_id)
            free = free_slots(scope.instance, workflow_id, scope.site) if workflow else 0
            if not free:  # a pending key waits for a slot, as in the claim sensor
                continue
            claimed = claim_runs(context, scope, workflow, free, pending.pop(workflow_id, None))
            runs += claimed.run_requests
            if claimed.pending:
                pending[workflow_id] = claimed.pending
        return runs

    return new_objects
