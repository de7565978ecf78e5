"""The new-objects sensor against a live runtime: each object of a triggered type becomes one job
(deterministic id, idempotent), the cursor moves only past what a bounded tick handled, cost O(new).
With claim_on_open it claims what it opened in the same tick, up to the free run slots, and a claim
whose answer was lost is sent again with the same key."""

import json
import re

import dagster as dg
import pytest
import requests
from sqlalchemy import event, insert

from orchestrator.runtime import schema as s
from orchestrator.runtime.schema import utcnow
from orchestrator.runtime.store import job_id_for
from orchestrator.runtime.store.base import take_seqs
from orchestrator.sensors import make_new_objects_sensor
from orchestrator.workflows.common import JOB_TAG, SITE_TAG, WORKFLOW_TAG
from orchestrator.workflows.triggers import load_triggers
from tests.sensors.support import METADATA_IN, add_run, submit
from tests.sensors.support import tick as support_tick


@pytest.fixture
def sensor():
    return make_new_objects_sensor(load_triggers())


def tick(sensor, instance, site, cursor=None, **settings):
    """A tick that only opens jobs (claim_on_open off) unless a test says otherwise."""
    return support_tick(sensor, instance, site, cursor, **{"claim_on_open": False, **settings})


def add_history(store, n: int) -> int:
    """`n` metadata-in objects inserted in one transaction (as published ones are); returns the last seq."""
    with store.write() as conn:
        seqs = take_seqs(conn, "objects", n)
        conn.execute(
            insert(s.objects),
            [
                {
                    "seq": seq,
                    "id": f"obj-old-{seq}",
                    "name": "old.json",
                    "description": "",
                    "types": ["metadata-in"],
                    "size": 2,
                    "sha256": "0" * 64,
                    "checksums": [{"type": "sha256", "checksum": "0" * 64}],
                    "mime_type": "application/json",
                    "site_id": None,
                    "created_by": "user:admin",
                    "created_time": utcnow(),
                }
                for seq in seqs
            ],
        )
        conn.execute(insert(s.object_type_links), [{"type_id": "metadata-in", "object_seq": seq} for seq in seqs])
    return seqs[-1]


def jobs_of(client) -> list[dict]:
    return client.get("/jobs", limit=1000)["items"]


def expected_jobs(objects: list[dict]) -> set[str]:
    return {job_id_for(METADATA_IN.id, [obj["id"]]) for obj in objects}


def test_no_new_objects_skips_and_keeps_the_cursor(sensor, instance, site):
    for cursor in (None, "7"):
        result = tick(sensor, instance, site, cursor)
        assert result.run_requests == [] and int(result.cursor) == int(cursor or 0)
        assert result.skip_reason.skip_message == "0 new object(s): 0 job(s) created, 0 already existed."
    assert jobs_of(site.client) == []


def test_objects_of_a_triggered_type_become_one_job_each(sensor, instance, site):
    submitted = submit(site.client, 3)
    submit(site.client, 1, object_type="metadata-validated", tag="other")  # no trigger for this type
    result = tick(sensor, instance, site)
    assert result.skip_reason.skip_message == "3 new object(s): 3 job(s) created, 0 already existed."
    assert result.cursor == str(submitted[-1]["seq"])
    jobs = jobs_of(site.client)
    assert {job["id"] for job in jobs} == expected_jobs(submitted)
    assert all(
        job["status"] == "open"
        and job["workflow_id"] == METADATA_IN.id
        and job["config"] == {"schema": "study-metadata", "replace": False}
        for job in jobs
    )
    assert sorted(job["inputs"][0] for job in jobs) == sorted(obj["id"] for obj in submitted)

    again = tick(sensor, instance, site, result.cursor)
    assert again.cursor == result.cursor
    assert again.skip_reason.skip_message == "0 new object(s): 0 job(s) created, 0 already existed."
    assert len(jobs_of(site.client)) == 3


def test_replaying_from_the_start_creates_no_duplicates(sensor, instance, site):
    submitted = submit(site.client, 3)
    first = tick(sensor, instance, site)
    replay = tick(sensor, instance, site, "0")
    assert replay.cursor == first.cursor
    assert replay.skip_reason.skip_message == "3 new object(s): 0 job(s) created, 3 already existed."
    assert {job["id"] for job in jobs_of(site.client)} == expected_jobs(submitted)


def test_a_tick_handles_a_bounded_batch_and_the_next_continues(sensor, instance, site):
    submitted = submit(site.client, 5)
    first = tick(sensor, instance, site, object_batch=2)
    assert first.cursor == str(submitted[1]["seq"])
    assert {job["id"] for job in jobs_of(site.client)} == expected_jobs(submitted[:2])
    second = tick(sensor, instance, site, first.cursor, object_batch=2)
    assert second.cursor == str(submitted[3]["seq"])
    third = tick(sensor, instance, site, second.cursor, object_batch=2)
    assert third.cursor == str(submitted[4]["seq"])
    assert third.skip_reason.skip_message == "1 new object(s): 1 job(s) created, 0 already existed."
    assert {job["id"] for job in jobs_of(site.client)} == expected_jobs(submitted)


def test_a_tick_reads_only_objects_after_the_cursor(sensor, instance, site, store):
    """500 objects of history and a cursor at the end: the tick's object query is a bounded range, not a scan."""
    last_seq = add_history(store, 500)
    statements = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(store.reader, "before_cursor_execute", capture)
    try:
        result = tick(sensor, instance, site, str(last_seq))
    finally:
        event.remove(store.reader, "before_cursor_execute", capture)
    assert result.cursor == str(last_seq) and jobs_of(site.client) == []
    listing = [sql for sql in statements if re.search(r"\bFROM (objects|object_type_links)\b", sql)]
    assert listing, statements
    for sql in listing:
        assert re.search(r"\b(objects\.seq|object_type_links\.object_seq) (>|IN)", sql), (
            f"unbounded object query:\n{sql}"
        )
    assert any(re.search(r"object_seq > .*\bLIMIT\b", sql, re.S) for sql in listing), listing
    near_end = tick(sensor, instance, site, str(last_seq - 2))  # the history is there for a cursor before it
    assert near_end.skip_reason.skip_message == "2 new object(s): 2 job(s) created, 0 already existed."


def test_an_object_whose_job_is_refused_does_not_stall_the_ones_after_it(sensor, instance, site, admin):
    first, refused, last = submit(site.client, 3)
    # The job `refused` would make already exists with another config (its trigger changed): a permanent 409.
    admin.create_job(METADATA_IN.id, [refused["id"]], config={"schema": "an-older-schema"})
    result = tick(sensor, instance, site)
    assert result.cursor == str(last["seq"])
    assert result.skip_reason.skip_message == (
        f"3 new object(s): 2 job(s) created, 0 already existed. Refused: {refused['id']} (ALREADY_EXISTS)."
    )
    assert expected_jobs([first, last]) <= {job["id"] for job in jobs_of(site.client)}


def test_a_transient_failure_keeps_what_the_tick_handled(sensor, instance, site, monkeypatch):
    submitted = submit(site.client, 3)
    client, send, posts = site.client, site.client.session.request, []

    def unavailable_after_one(method, url, **kwargs):
        if method == "POST" and url.endswith("/jobs"):
            posts.append(url)
            if len(posts) > 1:
                response = requests.Response()
                response.status_code, response._content = 503, b'{"code": "UNAVAILABLE", "message": "down"}'
                return response
        return send(method, url, **kwargs)

    monkeypatch.setattr(client, "max_retries", 0)
    monkeypatch.setattr(client.session, "request", unavailable_after_one)
    result = tick(sensor, instance, site)
    assert result.cursor == str(submitted[0]["seq"])  # past the first object only: the other two come next tick
    assert {job["id"] for job in jobs_of(site.client)} == expected_jobs(submitted[:1])
    monkeypatch.setattr(client.session, "request", send)
    again = tick(sensor, instance, site, result.cursor)
    assert again.cursor == str(submitted[-1]["seq"])
    assert {job["id"] for job in jobs_of(site.client)} == expected_jobs(submitted)


def test_the_jobs_it_opens_are_claimed_and_launched_in_the_same_tick_up_to_the_free_slots(sensor, instance, site):
    objects = submit(site.client, 3)
    result = tick(sensor, instance, site, claim_on_open=True, max_runs_per_workflow=2)
    launched = [r.tags[JOB_TAG] for r in result.run_requests]
    assert len(launched) == 2 and set(launched) <= expected_jobs(objects)
    assert {r.job_name for r in result.run_requests} == {METADATA_IN.job.name}
    assert int(result.cursor) == objects[-1]["seq"]
    statuses = {job["id"]: job["status"] for job in jobs_of(site.client)}
    assert sorted(statuses.values()) == ["claimed", "claimed", "open"]  # the third waits for a slot
    for request in result.run_requests:  # the runs Dagster makes of them take the slots
        add_run(instance, request.tags, dg.DagsterRunStatus.QUEUED)
    more = submit(site.client, 1, tag="more")
    again = tick(sensor, instance, site, result.cursor, claim_on_open=True, max_runs_per_workflow=2)
    assert again.run_requests == [] and int(again.cursor) == more[-1]["seq"]


def claims_answered_by_nobody(client, monkeypatch) -> list[str]:
    """Each claimNext is processed but its reply is lost; every other request goes through."""
    send, claimed = client.session.request, []

    def claim_lost(method, url, **kwargs):
        response = send(method, url, **kwargs)
        if url.endswith("/jobs:claimNext"):
            claimed.extend(op["id"] for op in response.json()["operations"])
            raise requests.ConnectionError("connection reset")
        return response

    monkeypatch.setattr(client, "max_retries", 0)
    monkeypatch.setattr(client.session, "request", claim_lost)
    return claimed


def test_a_claim_on_open_whose_answer_was_lost_is_sent_again_next_tick(sensor, instance, site, monkeypatch):
    objects = submit(site.client, 2)
    site.client.token()
    claimed = claims_answered_by_nobody(site.client, monkeypatch)
    first = tick(sensor, instance, site, claim_on_open=True)
    assert first.run_requests == [] and len(claimed) == 2
    state = json.loads(first.cursor)
    assert state["seq"] == objects[-1]["seq"] and list(state["pending"]) == [METADATA_IN.id]

    monkeypatch.undo()  # the runtime answers again
    second = tick(sensor, instance, site, first.cursor, claim_on_open=True)
    assert sorted(r.run_key for r in second.run_requests) == sorted(claimed)  # the same operations, not new ones
    assert second.cursor == str(objects[-1]["seq"])
    assert all(r.tags[SITE_TAG] == site.id and r.tags[WORKFLOW_TAG] == METADATA_IN.id for r in second.run_requests)
