"""A job made by a sensor's own logic: the curation sensor makes a curate-metadata job once `batch` new
biosample documents exist since the last one -- with an id derived from the documents it covers, so a
tick repeated with a lost cursor makes the same job, never a second -- and the job, run by a site,
reports what the documents hold."""

import json

import dagster as dg

from orchestrator.sensors import make_curation_sensor
from orchestrator.workflows import WORKFLOWS
from tests.sensors.support import tick

CURATE = WORKFLOWS["curate-metadata-1.0.0"]


def ingest(admin, first: int, count: int) -> None:
    docs = [
        {"id": f"nmdc:bsm-{i}", "env_medium": "soil", **({"depth_m": i} if i % 2 else {})}
        for i in range(first, first + count)
    ]
    data = json.dumps({"biosample_set": docs}).encode()
    admin.ingest_metadata(admin.create_object(data, name="set.json", types=["metadata-validated"])["id"])


def curation_jobs(admin) -> list[dict]:
    return admin.get("/jobs", workflow_id=CURATE.id)["items"]


def test_a_curation_job_once_enough_new_documents_exist_and_never_two(instance, site, registered):
    sensor = make_curation_sensor("biosample_set", batch=3)
    skipped = tick(sensor, instance, site)
    assert isinstance(skipped, dg.SkipReason)
    assert skipped.skip_message == "0 new biosample_set document(s) since seq 0; a curation job needs 3."
    ingest(registered, 1, 2)
    assert "2 new biosample_set document(s)" in tick(sensor, instance, site).skip_message
    ingest(registered, 3, 2)
    made = tick(sensor, instance, site)
    third = registered.metadata_document("biosample_set", "nmdc:bsm-3").seq
    assert made.cursor == str(third)
    (job,) = curation_jobs(registered)
    assert job["id"] == f"curate-biosample_set-{third}"
    assert job["config"] == {"collection": "biosample_set", "after_seq": 0, "through_seq": third}
    again = tick(sensor, instance, site)  # the cursor update was lost: the same tick again
    assert again.cursor == made.cursor and [j["id"] for j in curation_jobs(registered)] == [job["id"]]
    assert "1 new biosample_set document(s)" in tick(sensor, instance, site, cursor=made.cursor).skip_message

    op = site.client.claim_job(job["id"])
    result = CURATE.job.execute_in_process(
        instance=instance, tags=site.tags(job["id"], op["id"], CURATE.id), resources={"runtime": site.runtime}
    )
    assert result.success
    report = registered.get(f"/operations/{op['id']}")["result"]
    assert report == {
        "collection": "biosample_set",
        "after_seq": 0,
        "through_seq": third,
        "documents": 3,
        "field_coverage": {"depth_m": 2, "env_medium": 3, "id": 3},
        "incomplete_fields": ["depth_m"],
    }
