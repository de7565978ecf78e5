"""Workflow apply-changesheet-1.0.0 run in process against a live runtime on a really claimed job: the
example changesheet, submitted after the example study's metadata was ingested, is applied (each
changed document's before and after in the result, the store changed, written by the job); one that
no longer applies fails the job with every problem and changes nothing."""

import json

from orchestrator.workflows import WORKFLOWS
from tests.conftest import REPO_ROOT

EXAMPLES = REPO_ROOT / "examples" / "metadata"
APPLY = WORKFLOWS["apply-changesheet-1.0.0"]


def run_changesheet(instance, site, admin, object_id: str):
    job_id = admin.create_job(APPLY.id, [object_id], config={"schema": "study-metadata"})["id"]
    op = site.client.claim_job(job_id)
    result = APPLY.job.execute_in_process(
        instance=instance,
        tags=site.tags(job_id, op["id"], APPLY.id),
        resources={"runtime": site.runtime},
        raise_on_error=False,
    )
    return result, admin.get(f"/jobs/{job_id}"), admin.get(f"/operations/{op['id']}")


def ingest_example(admin) -> dict:
    data = (EXAMPLES / "study.json").read_bytes()
    admin.ingest_metadata(admin.create_object(data, name="study.json", types=["metadata-validated"])["id"])
    return json.loads(data)


def test_the_example_changesheet_is_applied_with_before_and_after(instance, site, registered):
    example = ingest_example(registered)
    sheet = registered.submit_changesheet((EXAMPLES / "changesheet.tsv").read_bytes(), name="changesheet.tsv")
    result, job, op = run_changesheet(instance, site, registered, sheet.id)
    assert result.success and job["status"] == "succeeded", op["error"]
    changes = {change["id"]: change for change in op["result"]["changes"]}
    sample = changes["nmdc:bsm-11-a1"]
    assert sample["before"] == example["biosample_set"][0] and sample["version"] == 2
    assert sample["after"]["depth_m"] == 0.15
    assert sample["after"]["associated_studies"] == ["nmdc:sty-11-demo01", "nmdc:sty-11-demo01b"]
    stored = registered.metadata_document("study_set", "nmdc:sty-11-demo01")
    assert stored.document["description"].endswith("resampled in 2025.") and stored.updated_by == f"job:{job['id']}"


def test_a_changesheet_that_no_longer_applies_fails_its_job_and_changes_nothing(instance, site, registered):
    ingest_example(registered)
    tsv = b"id\taction\tattribute\tvalue\nnmdc:bsm-11-a2\tremove\tdepth_m\t\n"
    first, second = (registered.submit_changesheet(tsv, name=f"{n}.tsv") for n in ("first", "second"))
    assert run_changesheet(instance, site, registered, first.id)[0].success
    result, job, op = run_changesheet(instance, site, registered, second.id)
    assert not result.success and job["status"] == "failed"
    assert op["error"]["code"] == "INVALID_CHANGESHEET"
    assert op["error"]["details"]["problems"] == [
        {"line": 2, "id": "nmdc:bsm-11-a2", "message": "remove depth_m: there is no such attribute"}
    ]
    assert registered.metadata_document("biosample_set", "nmdc:bsm-11-a2").version == 2  # the first one's change only
