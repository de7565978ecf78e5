"""Workflow metadata-in-1.0.0: its Dagster job run in process against a live runtime on a really
claimed job (valid, invalid and non-JSON document sets; a set whose ids are stored already, without and
with replace), and its validation function on its own."""

import hashlib
import json

import pytest

from orchestrator.schemas import MAX_ERRORS, validation_errors
from orchestrator.workflows.common import HOST_TAG, PID_TAG, WorkflowFailure, failure_report
from orchestrator.workflows.metadata_in import config_problem, load_schema
from tests.conftest import REPO_ROOT
from tests.sensors.support import METADATA_IN

EXAMPLES = REPO_ROOT / "examples" / "metadata"
SCHEMA = "study-metadata"


def run_workflow(instance, site, admin, content: bytes, replace: bool = False):
    """Submit `content`, create and claim its job as the site, then run the job as the claimed run would."""
    source = site.client.create_object(content, name="study.json", types=["metadata-in"], mime_type="application/json")
    job_id = admin.create_job(METADATA_IN.id, [source["id"]], config={"schema": SCHEMA, "replace": replace})["id"]
    op = site.client.claim_job(job_id)
    result = METADATA_IN.job.execute_in_process(
        instance=instance, tags=site.tags(job_id, op["id"]), resources={"runtime": site.runtime}, raise_on_error=False
    )
    return result, source, admin.get(f"/jobs/{job_id}"), admin.get(f"/operations/{op['id']}")


def validated_objects(admin) -> list[dict]:
    return admin.get("/objects", types=["metadata-validated"])["items"]


def test_a_valid_document_set_is_ingested_and_registered_as_metadata_validated(instance, site, admin, tmp_path):
    content = (EXAMPLES / "study.json").read_bytes()
    result, source, job, op = run_workflow(instance, site, admin, content)
    assert result.success
    assert job["status"] == "succeeded" and op["done"] and op["error"] is None
    (validated,) = validated_objects(admin)
    assert op["result"] == {
        "valid": True,
        "schema": SCHEMA,
        "object_id": validated["id"],
        "inserted": {"study_set": ["nmdc:sty-11-demo01"], "biosample_set": ["nmdc:bsm-11-a1", "nmdc:bsm-11-a2"]},
        "replaced": {},
    }
    stored = admin.metadata_document("biosample_set", "nmdc:bsm-11-a2")
    assert stored.document == json.loads(content)["biosample_set"][1] and stored.updated_by == f"job:{job['id']}"
    assert validated["types"] == ["metadata-validated"] and validated["name"] == source["name"]
    assert validated["checksums"] == [{"type": "sha256", "checksum": hashlib.sha256(content).hexdigest()}]
    assert admin.download(validated["id"], tmp_path / "copy.json").read_bytes() == content
    assert op["metadata"]["dagster_run_id"] == result.run_id and op["metadata"]["step"] == "done"
    tags = instance.get_run_by_id(result.run_id).tags
    assert tags[PID_TAG].isdigit() and tags[HOST_TAG]  # what the reconcile sensor checks the worker by


def test_rejected_documents_fail_with_a_code(instance, site, admin):
    result, _, job, op = run_workflow(instance, site, admin, (EXAMPLES / "invalid-study.json").read_bytes())
    assert not result.success
    assert job["status"] == "failed" and op["done"] and op["result"] is None
    error = op["error"]
    assert (
        error["code"] == "VALIDATION_FAILED" and error["message"] == f"4 validation error(s) against schema {SCHEMA!r}."
    )
    assert error["details"]["schema"] == SCHEMA
    assert [e["path"] for e in error["details"]["errors"]] == [
        "/biosample_set/0/collection_date",
        "/study_set/0/id",
        "/study_set/0/name",
        "/study_set/0/principal_investigator/email",
    ]
    assert all(e["message"] for e in error["details"]["errors"])

    result, _, job, op = run_workflow(instance, site, admin, b"\xff\xfe not { json")
    assert not result.success and job["status"] == "failed"
    assert op["error"]["code"] == "INVALID_JSON" and op["error"]["message"].startswith(
        "The document is not valid JSON: "
    )
    assert validated_objects(admin) == [] and admin.metadata_collections() == []


def test_a_set_whose_ids_are_stored_fails_naming_them_unless_the_trigger_replaces(instance, site, admin):
    first = json.loads((EXAMPLES / "study.json").read_text())
    assert run_workflow(instance, site, admin, json.dumps(first).encode())[0].success
    changed = json.loads(json.dumps(first))
    changed["biosample_set"][0]["depth_m"] = 0.2
    changed["biosample_set"].append({**changed["biosample_set"][1], "id": "nmdc:bsm-11-a3"})
    content = json.dumps(changed).encode()
    result, _, job, op = run_workflow(instance, site, admin, content)
    assert not result.success and job["status"] == "failed"
    assert op["error"]["code"] == "DOCUMENTS_EXIST"
    assert op["error"]["details"]["existing"] == {
        "biosample_set": ["nmdc:bsm-11-a1", "nmdc:bsm-11-a2"],
        "study_set": ["nmdc:sty-11-demo01"],
    }
    assert admin.metadata_document("biosample_set", "nmdc:bsm-11-a1").document["depth_m"] == 0.1  # nothing changed
    assert [c.count for c in admin.metadata_collections() if c.name == "biosample_set"] == [2]  # a3 not in either
    result, _, job, op = run_workflow(instance, site, admin, content + b" ", replace=True)  # a new object, same set
    assert result.success, op
    assert op["result"]["inserted"] == {"biosample_set": ["nmdc:bsm-11-a3"]}
    assert op["result"]["replaced"] == {
        "study_set": ["nmdc:sty-11-demo01"],
        "biosample_set": ["nmdc:bsm-11-a1", "nmdc:bsm-11-a2"],
    }
    updated = admin.metadata_document("biosample_set", "nmdc:bsm-11-a1")
    assert (updated.document["depth_m"], updated.version) == (0.2, 2)


def test_validation_errors():
    schema = load_schema(SCHEMA)
    assert validation_errors(json.loads((EXAMPLES / "study.json").read_text()), schema) == []
    assert validation_errors([], schema) == [{"path": "/", "message": "[] is not of type 'object'"}]
    errors = validation_errors(json.loads((EXAMPLES / "invalid-study.json").read_text()), schema)
    assert errors[0] == {
        "path": "/biosample_set/0/collection_date",
        "message": "'2024-13-45' is not a 'date'",
    }  # formats checked
    assert [e["path"] for e in errors] == sorted(e["path"] for e in errors)
    many = {
        "biosample_set": [{"id": "bad id", "associated_studies": ["x:1"], "env_medium": "", "collection_date": "never"}]
        * 30
    }
    assert len(validation_errors(many, schema)) == MAX_ERRORS


def test_schema_names_are_checked():
    assert config_problem({"schema": SCHEMA}) is None
    assert config_problem({"schema": SCHEMA, "replace": True}) is None
    assert config_problem({"schema": SCHEMA, "replace": "yes"}) == "replace must be true or false, not 'yes'"
    for bad in ({}, {"schema": "nope"}, {"schema": "../schemas/study-metadata"}):
        assert config_problem(bad).startswith("No JSON Schema named "), bad
    with pytest.raises(WorkflowFailure) as info:
        load_schema("nope")
    assert (
        info.value.code == "UNKNOWN_SCHEMA" and "known: [" in info.value.message and repr(SCHEMA) in info.value.message
    )


def test_failure_report_codes():
    assert failure_report(WorkflowFailure("INVALID_JSON", "bad", {"a": 1}), "validate_document") == {
        "code": "INVALID_JSON",
        "message": "bad",
        "details": {"a": 1},
    }
    assert failure_report(KeyError("schema"), "validate_document") == {
        "code": "OP_FAILED",
        "message": "Op 'validate_document' failed: 'schema'",
        "details": {"op": "validate_document"},
    }
