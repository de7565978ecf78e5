"""The metadata store through the API, on both backends: a document set is ingested every document or
none (ids that exist fail it, named, unless it replaces; a bad set is refused with every problem at
once); documents are read by cursor pages, filtered on top-level fields, and by id; each endpoint x
each kind of caller; two ingests racing over the same new ids never leave a mix of both."""

import json
import threading

import pytest

from orchestrator.runtime.client import RuntimeClientError
from orchestrator.runtime.store.base import take_seqs
from tests.utils.api import assert_error, call, expect_error

SAMPLES = [
    {"id": "nmdc:bsm-1", "env_medium": "soil", "depth_m": 0.5, "public": True},
    {"id": "nmdc:bsm-2", "env_medium": "water", "depth_m": 2, "public": False},
    {"id": "nmdc:bsm-3", "env_medium": "soil", "depth_m": 2.0, "public": True},
]
STUDY = {"id": "nmdc:sty-1", "name": "Soil and water"}


@pytest.fixture
def docsets(admin):
    admin.put("/object_types/docset", {"id": "docset", "name": "Document set"})  # no trigger: no job of its own

    def upload(document_set) -> str:
        data = document_set if isinstance(document_set, bytes) else json.dumps(document_set).encode()
        return admin.create_object(data, name="set.json", types=["docset"])["id"]

    return upload


@pytest.fixture
def live_op(catalog, make_site):
    """site-a and an operation it holds (the metadata-in run it ingests for)."""
    site = make_site("site-a", ["py"])
    return site, site.claim_job(catalog.create_job("wf", [])["id"])


def test_a_document_set_is_ingested_whole_and_read_by_pages_filter_and_id(admin, docsets, live_op):
    site, op = live_op
    result = site.ingest_metadata(docsets({"biosample_set": SAMPLES, "study_set": [STUDY]}), operation_id=op["id"])
    assert result.inserted == {"biosample_set": ["nmdc:bsm-1", "nmdc:bsm-2", "nmdc:bsm-3"], "study_set": ["nmdc:sty-1"]}
    assert result.replaced == {}
    assert [(c.name, c.count) for c in admin.metadata_collections()] == [("biosample_set", 3), ("study_set", 1)]
    first = admin.get("/metadata/biosample_set", limit=2)
    assert [d["id"] for d in first["items"]] == ["nmdc:bsm-1", "nmdc:bsm-2"] and first["next_after_seq"]
    rest = admin.get("/metadata/biosample_set", limit=2, after_seq=first["next_after_seq"])
    assert [d["id"] for d in rest["items"]] == ["nmdc:bsm-3"] and rest["next_after_seq"] is None
    doc = admin.metadata_document("biosample_set", "nmdc:bsm-2")
    assert (doc.document, doc.version, doc.updated_by) == (SAMPLES[1], 1, f"job:{op['job_id']}")
    for where, expected in (
        ({"env_medium": "soil"}, ["nmdc:bsm-1", "nmdc:bsm-3"]),
        ({"depth_m": 2}, ["nmdc:bsm-2", "nmdc:bsm-3"]),  # 2 and 2.0 are the same number
        ({"public": True}, ["nmdc:bsm-1", "nmdc:bsm-3"]),
        ({"env_medium": "soil", "depth_m": 0.5}, ["nmdc:bsm-1"]),
        ({"public": 1}, []),  # a number is not a boolean, as in JSON
        ({"nowhere": "x"}, []),
    ):
        assert [d.id for d in admin.metadata_documents("biosample_set", where)] == expected, where
    expect_error(404, "METADATA_DOCUMENT_NOT_FOUND", admin.metadata_document, "biosample_set", "nmdc:bsm-9")
    assert admin.get("/metadata/no_such_collection")["items"] == []
    for bad in ('{"a.b": 1}', '{"x": null}', '{"x": [1]}', "[1]", "not json"):
        assert_error(call(admin, "GET", "/metadata/biosample_set", params={"filter": bad}), 422, "INVALID_FILTER")


def test_ids_that_exist_fail_the_whole_set_naming_them_unless_it_replaces(admin, docsets, store):
    admin.ingest_metadata(docsets({"biosample_set": SAMPLES[:2]}))
    again = docsets({"biosample_set": [{**SAMPLES[1], "env_medium": "sediment"}, SAMPLES[2]]})
    error = expect_error(409, "DOCUMENTS_EXIST", admin.ingest_metadata, again)
    assert error.details == {"existing": {"biosample_set": ["nmdc:bsm-2"]}} and "nmdc:bsm-2" in error.message
    assert [d.id for d in admin.metadata_documents("biosample_set")] == ["nmdc:bsm-1", "nmdc:bsm-2"]  # not bsm-3
    result = admin.ingest_metadata(again, replace=True)
    assert (result.inserted, result.replaced) == ({"biosample_set": ["nmdc:bsm-3"]}, {"biosample_set": ["nmdc:bsm-2"]})
    replaced = admin.metadata_document("biosample_set", "nmdc:bsm-2")
    assert (replaced.document["env_medium"], replaced.version, replaced.updated_by) == ("sediment", 2, "user:admin")


def test_a_bad_document_set_is_refused_with_every_problem_and_nothing_is_stored(admin, docsets):
    cases = {
        b"{not json": "not JSON",
        b"[]": "A document set is a JSON object",
        json.dumps(
            {
                "Bad-Name": [],
                "biosample_set": [{"id": "a"}, {"id": "a"}, {"name": "no id"}, "text", {"id": "x/y"}],
                "study_set": {"id": "s"},
            }
        ).encode(): None,
    }
    for data, message in cases.items():
        error = expect_error(422, "INVALID_DOCUMENT_SET", admin.ingest_metadata, docsets(data))
        if message:
            assert message in error.message
    problems = error.details["problems"]
    assert problems == [
        "'Bad-Name' is no collection name (lower case, digits, _; 100 at most)",
        "biosample_set[1]: id 'a' appears twice",
        "biosample_set[2]: no usable id (a string of 1 to 200 characters, without / or control characters)",
        "biosample_set[3]: not an object",
        "biosample_set[4]: no usable id (a string of 1 to 200 characters, without / or control characters)",
        "study_set: not a list of documents",
    ]
    assert admin.metadata_collections() == []
    expect_error(404, "OBJECT_NOT_FOUND", admin.ingest_metadata, "no-such-object")


def test_each_endpoint_for_each_kind_of_caller(admin, docsets, live_op, make_site, store, catalog, server):
    site, op = live_op
    other_site = make_site("site-b", ["py"])
    store.create_user("erin", "pw")
    erin = call(
        admin, "POST", "/token", token="", data={"grant_type": "password", "username": "erin", "password": "pw"}
    )
    erin_token = erin.json()["access_token"]
    object_id = docsets({"study_set": [STUDY]})
    body = {"object_id": object_id}
    # ingest: a user may not; a site needs an operation, its own, live; admins may
    assert_error(call(admin, "POST", "/metadata:ingest", json=body, token=""), 401, "MISSING_TOKEN")
    assert_error(call(admin, "POST", "/metadata:ingest", json=body, token=erin_token), 403, "SITE_OR_ADMIN_ONLY")
    assert_error(call(site, "POST", "/metadata:ingest", json=body), 422, "OPERATION_REQUIRED")
    assert_error(
        call(other_site, "POST", "/metadata:ingest", json={**body, "operation_id": op["id"]}), 403, "NOT_OWNER"
    )
    assert admin.metadata_collections() == []
    site.update_operation(op["id"], done=True, result={"ok": True})
    assert_error(call(site, "POST", "/metadata:ingest", json={**body, "operation_id": op["id"]}), 409, "OPERATION_DONE")
    assert admin.metadata_collections() == []
    assert call(admin, "POST", "/metadata:ingest", json=body).status_code == 200
    # reads: anyone logged in
    for path in ("/metadata", "/metadata/study_set", "/metadata/study_set/nmdc:sty-1"):
        assert_error(call(admin, "GET", path, token=""), 401, "MISSING_TOKEN")
        for caller, token in ((admin, None), (site, None), (other_site, None), (admin, erin_token)):
            response = call(caller, "GET", path, **({"token": token} if token else {}))
            assert response.status_code == 200, (path, response.text)


def race(admin, objects: dict[str, str]) -> dict:
    """Ingest each object from its own thread, released together; each one's result or error."""
    outcomes, barrier = {}, threading.Barrier(len(objects))

    def ingest(name, object_id):
        barrier.wait()
        try:
            outcomes[name] = admin.ingest_metadata(object_id)
        except RuntimeClientError as exc:
            outcomes[name] = exc

    threads = [threading.Thread(target=ingest, args=pair) for pair in objects.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return outcomes


def test_two_ingests_racing_over_the_same_new_ids_leave_one_whole_set_never_a_mix(admin, docsets, store):
    for round_ in range(4):
        collection = f"race_{round_}"
        first = {collection: [{"id": f"d{i}", "by": "first"} for i in range(0, 300)]}
        second = {collection: [{"id": f"d{i}", "by": "second"} for i in range(200, 500)]}
        objects = [docsets(first), docsets(second)]
        outcomes = race(admin, {"first": objects[0], "second": objects[1]})
        won = [name for name, outcome in outcomes.items() if not isinstance(outcome, RuntimeClientError)]
        lost = [outcome for outcome in outcomes.values() if isinstance(outcome, RuntimeClientError)]
        assert len(won) == 1 and len(lost) == 1, outcomes
        assert (lost[0].status, lost[0].code) == (409, "DOCUMENTS_EXIST")
        stored = list(admin.metadata_documents(collection))
        assert {d.document["by"] for d in stored} == {won[0]}
        assert len(stored) == 300


def test_an_ingest_waits_for_an_earlier_uncommitted_one_so_seq_order_is_commit_order(admin, docsets, store):
    """A cursor over documents (the curation sensor's) must never pass one that commits later with a lower
    seq. An ingest still open holds the counter row, so a second one waits for it to commit, and takes the
    seqs after it; a reader between the two sees neither or only the first."""
    later = docsets({"curated": [{"id": "later"}]})
    finished = threading.Event()
    with store.write() as slow:  # an ingest that took its seqs and has not committed yet
        (slow_seq,) = take_seqs(slow, "metadata_documents")
        thread = threading.Thread(target=lambda: (admin.ingest_metadata(later), finished.set()))
        thread.start()
        assert not finished.wait(1.0), "the second ingest committed while the first still held lower seqs"
        assert list(admin.metadata_documents("curated")) == []
    thread.join(60)
    assert finished.is_set()
    (stored,) = admin.metadata_documents("curated")
    assert stored.seq > slow_seq
