"""Rows written straight into the database (or before a validation existed) that the API cannot send
as stored: each is listed with the bad field replaced by a marker, never a 500 for the whole list."""

import hashlib
import json
import logging

import pytest
from sqlalchemy import text

from orchestrator.runtime.schema import utcnow
from tests.utils.api import call

DEEP = "[" * 300 + "1" + "]" * 300


def insert_job(store, job_id: str, config: str) -> None:
    """A job row with `config` as raw JSON text, past every check the API makes."""
    cast = "CAST(:config AS jsonb)" if store.writer.dialect.name == "postgresql" else ":config"
    with store.write() as conn:
        conn.execute(
            text(
                f"INSERT INTO jobs (id, workflow_id, inputs, config, status, attempts, max_attempts, created_by, "
                f"created_at, updated_at) VALUES (:id, 'wf', '[]', {cast}, 'open', 0, 3, 'user:admin', :now, :now)"
            ),
            {"id": job_id, "config": config, "now": utcnow().replace(tzinfo=None)},
        )


def bad_configs(store) -> dict[str, str]:
    configs = {"job-deep": f'{{"k": {DEEP}}}', "job-array": "[1, 2]", "job-string": '"text"'}
    if store.writer.dialect.name == "sqlite":  # PostgreSQL's jsonb refuses these outright
        configs |= {"job-surrogate": '{"k": "a\\ud800b"}', "job-nan": '{"n": NaN}', "job-inf": '{"n": 1e400}'}
    return configs


def test_unreadable_job_rows_do_not_fail_lists_or_gets(world, store, caplog):
    admin = world["admin"]
    configs = bad_configs(store)
    for job_id, config in configs.items():
        insert_job(store, job_id, config)
    with caplog.at_level(logging.WARNING, logger="orchestrator.runtime.store.rows"):
        listed = call(admin, "GET", "/jobs", params={"limit": 1000})
        assert listed.status_code == 200, listed.text[:300]
        jobs = {job["id"]: job for job in listed.json()["items"]}
        assert set(configs) <= set(jobs)
        assert jobs[world["open_job"]["id"]] == world["open_job"] | {
            "updated_at": jobs[world["open_job"]["id"]]["updated_at"]
        }
        for job_id in configs:
            assert set(jobs[job_id]["config"]) == {"_unreadable"}, jobs[job_id]
            one = call(admin, "GET", f"/jobs/{job_id}")
            assert one.status_code == 200 and one.json()["config"] == jobs[job_id]["config"], one.text[:300]
        page = call(admin, "GET", "/jobs", params={"limit": 1, "status": "open"})
        assert page.status_code == 200 and page.json()["next_after_seq"] is not None
    assert all(job_id in caplog.text for job_id in configs)


def test_unreadable_operation_rows_do_not_fail_lists_or_gets(world, store):
    admin, op = world["admin"], world["op"]
    column = "CAST(:v AS jsonb)" if store.writer.dialect.name == "postgresql" else ":v"
    with store.write() as conn:
        conn.execute(
            text(f"UPDATE operations SET metadata = {column}, result = {column} WHERE id = :id"),
            {"v": f'{{"progress": {DEEP}}}', "id": op["id"]},
        )
    listed = call(admin, "GET", "/operations")
    assert listed.status_code == 200, listed.text[:300]
    stored = next(item for item in listed.json()["items"] if item["id"] == op["id"])
    assert set(stored["metadata"]) == {"_unreadable"} and set(stored["result"]) == {"_unreadable"}
    assert call(admin, "GET", f"/operations/{op['id']}").json()["metadata"] == stored["metadata"]
    heartbeat = call(world["site"], "POST", "/operations:heartbeat", json={"operation_ids": [op["id"]]})
    assert heartbeat.status_code == 200, heartbeat.text[:300]


@pytest.mark.parametrize("mime_type", ["text/plain\r\nX-Injected: 1", "tëxt/plain", "text/plain; name=\u20ac"])
def test_a_stored_mime_type_that_cannot_be_a_header_is_served_as_octet_stream(world, store, mime_type):
    admin, obj = world["admin"], world["object"]
    with store.write() as conn:
        conn.execute(text("UPDATE objects SET mime_type = :m WHERE id = :id"), {"m": mime_type, "id": obj["id"]})
    download = call(admin, "GET", f"/objects/{obj['id']}/content")
    assert download.status_code == 200 and download.content == b"hello", download.text[:300]
    assert download.headers["content-type"] == "application/octet-stream"
    assert "x-injected" not in download.headers
    for path in ("/objects", f"/objects/{obj['id']}", f"/ga4gh/drs/v1/objects/{obj['id']}"):
        response = call(admin, "GET", path)
        assert response.status_code == 200 and "application/octet-stream" in response.text, (path, response.text[:300])


def test_a_pending_upload_stored_with_a_bad_mime_type_can_still_be_uploaded(world, store):
    admin = world["admin"]
    content = b"late bytes"
    spec = {
        "name": "late.bin",
        "description": "",
        "types": ["doc"],
        "size": len(content),
        "mime_type": "bad\nvalue",
        "checksums": [{"type": "sha256", "checksum": hashlib.sha256(content).hexdigest()}],
    }
    column = "CAST(:spec AS jsonb)" if store.writer.dialect.name == "postgresql" else ":spec"
    with store.write() as conn:
        conn.execute(
            text(
                f"INSERT INTO uploads (id, spec, created_by, created_at) VALUES ('obj-old', {column}, 'user:admin', :now)"
            ),
            {"spec": json.dumps(spec), "now": utcnow().replace(tzinfo=None)},
        )
    assert call(admin, "GET", "/objects/obj-old").json()["mime_type"] == "application/octet-stream"
    uploaded = call(admin, "PUT", "/objects/obj-old/content", data=content)
    assert uploaded.status_code == 200 and uploaded.json()["status"] == "ready", uploaded.text[:300]
    assert call(admin, "GET", "/objects").status_code == 200


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # PostgreSQL's jsonb holds only valid JSON
def test_stored_text_that_is_not_json_does_not_fail_the_list(world, store):
    """SQLite keeps JSON as text, so text that does not parse can be written around the API."""
    admin = world["admin"]
    insert_job(store, "job-not-json", '{"k": ')
    with store.write() as conn:
        conn.execute(text("UPDATE objects SET types = 'doc' WHERE id = :id"), {"id": world["object"]["id"]})
    jobs = {job["id"]: job for job in call(admin, "GET", "/jobs").json()["items"]}
    assert set(jobs["job-not-json"]["config"]) == {"_unreadable"}
    objects = call(admin, "GET", "/objects")
    assert objects.status_code == 200 and objects.json()["items"][0]["types"] == [], objects.text[:300]
