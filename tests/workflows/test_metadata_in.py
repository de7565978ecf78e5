"""Workflow metadata-in-1.0.0: its Dagster job run in process against a live runtime on a really
claimed job (valid, invalid and non-JSON documents), and its validation function on its own."""

import hashlib
import json

import pytest

from orchestrator.workflows.common import HOST_TAG, PID_TAG, WorkflowFailure, failure_report
from orchestrator.workflows.metadata_in import MAX_ERRORS, config_problem, load_schema, validation_errors
from tests.conftest import REPO_ROOT
from tests.sensors.support import METADATA_IN

EXAMPLES = REPO_ROOT / "examples" / "metadata"
SCHEMA = "study-metadata"


def run_workflow(instance, site, admin, content: bytes):
    """Submit `content`, create and claim its job as the site, then run the job as the claimed run would."""
    source = site.client.create_object(content, name="study.json", types=["metadata-in"], mime_type="application/json")
    job_id = admin.create_job(METADATA_IN.id, [source["id"]], config={"schema": SCHEMA})["id"]
    op = site.client.claim_job(job_id)
    result = METADATA_IN.job.execute_in_process(
        instance=instance, tags=site.tags(job_id, op["id"]), resources={"runtime": site.runtime}, raise_on_error=False
    )
    return result, source, admin.get(f"/jobs/{job_id}"), admin.get(f"/operations/{op['id']}")


def validated_objects(admin) -> list[dict]:
    return admin.get("/objects", types=["metadata-validated"])["items"]


def test_a_valid_document_is_registered_as_metadata_validated(instance, site, admin, tmp_path):
    content = (EXAMPLES / "study.json").read_bytes()
    result, source, job, op = run_workflow(instance, site, admin, content)
    assert result.success
    assert job["status"] == "succeeded" and op["done"] and op["error"] is None
    (validated,) = validated_objects(admin)
    assert op["result"] == {"valid": True, "schema": SCHEMA, "object_id": validated["id"]}
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
        "/biosamples/0/collection_date",
        "/id",
        "/name",
        "/principal_investigator/email",
    ]
    assert all(e["message"] for e in error["details"]["errors"])

    result, _, job, op = run_workflow(instance, site, admin, b"\xff\xfe not { json")
    assert not result.success and job["status"] == "failed"
    assert op["error"]["code"] == "INVALID_JSON" and op["error"]["message"].startswith(
        "The document is not valid JSON: "
    )
    assert validated_objects(admin) == []


def test_validation_errors():
    schema = load_schema(SCHEMA)
    assert validation_errors(json.loads((EXAMPLES / "study.json").read_text()), schema) == []
    assert validation_errors([], schema) == [{"path": "/", "message": "[] is not of type 'object'"}]
    errors = validation_errors(json.loads((EXAMPLES / "invalid-study.json").read_text()), schema)
    assert errors[0] == {
        "path": "/biosamples/0/collection_date",
        "message": "'2024-13-45' is not a 'date'",
    }  # formats checked
    assert [e["path"] for e in errors] == sorted(e["path"] for e in errors)
    many = {
        "id": "x:1",
        "name": "n",
        "principal_investigator": {"name": "p", "email": "p@x.org"},
        "biosamples": [{"id": "bad id", "env_medium": "", "collection_date": "never"}] * 30,
    }
    assert len(validation_errors(many, schema)) == MAX_ERRORS


def test_schema_names_are_checked():
    assert config_problem({"schema": SCHEMA}) is None
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
