"""A sensor that makes jobs by its own logic, not from a trigger file (NMDC's `ensure_*` sensors): once
`batch` new documents of a collection exist since the last curation, it creates a curate-metadata job
over them. Its id is derived from the collection and the last document's seq, so a tick repeated with
the same cursor (a cursor update lost to a crash) makes the same job again, not a second one.

The cursor is the seq of the last document a curation job covers; each tick reads at most `batch`
documents after it (one page: an index range scan in the runtime)."""

import dagster as dg

from orchestrator.sensors.evaluation import SensorScope, site_sensor
from orchestrator.workflows.curate_metadata import WORKFLOW_ID


def curation_job_id(collection: str, through_seq: int) -> str:
    return f"curate-{collection}-{through_seq}"


def make_curation_sensor(
    collection: str = "biosample_set", batch: int = 100, interval: int = 30
) -> dg.SensorDefinition:
    @site_sensor(
        name=f"curate_{collection}",
        minimum_interval_seconds=interval,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"A curation job for every {batch} new {collection} documents.",
    )
    def curate(context: dg.SensorEvaluationContext, scope: SensorScope):
        after = int(context.cursor or 0)
        client = scope.runtime.client()
        page = client.get(f"/metadata/{collection}", after_seq=after, limit=batch)
        documents = page["items"]
        if len(documents) < batch:
            return dg.SkipReason(
                f"{len(documents)} new {collection} document(s) since seq {after}; a curation job needs {batch}."
            )
        through = documents[-1]["seq"]
        config = {"collection": collection, "after_seq": after, "through_seq": through}
        job = client.create_job(WORKFLOW_ID, [], config, id=curation_job_id(collection, through))
        context.log.info(f"curation job {job['id']} for {collection} documents after seq {after} through {through}")
        return dg.SensorResult(cursor=str(through), skip_reason=f"made curation job {job['id']}")

    return curate
