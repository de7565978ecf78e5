"""Changesheets against the metadata store, on both backends: a check names every problem at once
(unknown ids, bad rows and paths, changes that break the schema) and changes nothing; a valid one is
submitted as a `metadata-changesheet` object; applying it changes every row or none, with each
document's before and after; two changesheets on one document applied at the same moment both land."""

import json
import threading

import pytest

from orchestrator.runtime.client import RuntimeClientError
from tests.conftest import REPO_ROOT
from tests.utils.api import assert_error, call, expect_error

EXAMPLE = json.loads((REPO_ROOT / "examples" / "metadata" / "study.json").read_text())


def tsv(*rows: str) -> bytes:
    return ("id\taction\tattribute\tvalue\n" + "".join(row + "\n" for row in rows)).encode()


@pytest.fixture
def stored(admin):
    admin.put("/object_types/docset", {"id": "docset", "name": "Document set"})
    admin.put("/object_types/metadata-changesheet", {"id": "metadata-changesheet", "name": "Changesheet"})
    obj = admin.create_object(json.dumps(EXAMPLE).encode(), name="set.json", types=["docset"])
    admin.ingest_metadata(obj["id"])
    return admin


def test_a_valid_changesheet_is_checked_submitted_and_applied_with_before_and_after(stored):
    admin = stored
    sheet = tsv(
        "nmdc:bsm-11-a1\tupdate\tdepth_m\t0.25",
        "\tupdate\tname\tupstream core",  # an empty id: the row above's
        "\tinsert\tassociated_studies\tnmdc:sty-11-demo02",
        "nmdc:sty-11-demo01\tremove\tdescription\t",
        "nmdc:sty-11-demo01\tupdate\tprincipal_investigator.email\tada@river.example.org",
    )
    check = admin.validate_changesheet(sheet)
    assert check.valid and check.rows == 5 and check.problems == []
    assert [(c.collection, c.id, c.version) for c in check.changes] == [
        ("biosample_set", "nmdc:bsm-11-a1", 2),
        ("study_set", "nmdc:sty-11-demo01", 2),
    ]
    assert admin.metadata_document("biosample_set", "nmdc:bsm-11-a1").version == 1  # a check changes nothing
    submitted = admin.submit_changesheet(sheet, name="fix-depths.tsv")
    assert submitted.types == ["metadata-changesheet"] and submitted.name == "fix-depths.tsv"
    result = admin.apply_changesheet(submitted.id)
    sample = result.changes[0]
    assert sample.before == EXAMPLE["biosample_set"][0]
    assert sample.after == {
        **EXAMPLE["biosample_set"][0],
        "depth_m": 0.25,
        "name": "upstream core",
        "associated_studies": ["nmdc:sty-11-demo01", "nmdc:sty-11-demo02"],
    }
    study = admin.metadata_document("study_set", "nmdc:sty-11-demo01")
    assert "description" not in study.document and study.version == 2
    assert study.document["principal_investigator"]["email"] == "ada@river.example.org"


def test_every_problem_is_named_at_once_and_nothing_changes(stored):
    admin = stored
    sheet = tsv(
        "nmdc:bsm-11-a1\tupdate\tdepth_m\t-3",  # the schema: depth_m >= 0
        "nmdc:bsm-11-a1\tupdate\tid\tnmdc:other",
        "nmdc:bsm-11-zz\tupdate\tdepth_m\t1",
        "nmdc:bsm-11-a2\tdelete\tdepth_m\t",
        "nmdc:bsm-11-a2\tremove\tassociated_studies\tnmdc:not-there",
        "nmdc:bsm-11-a2\tinsert\tenv_medium\tclay",
        "nmdc:bsm-11-a2\tupdate\tbad..path\t1",
        "nmdc:sty-11-demo01\tupdate\tcolour\tred",  # additionalProperties: false
    )
    check = admin.validate_changesheet(sheet)
    assert not check.valid and check.changes == []
    assert [(p["line"], p.get("id"), p["message"]) for p in check.problems] == [
        (3, "nmdc:bsm-11-a1", "a document's id cannot be changed"),
        (5, "nmdc:bsm-11-a2", "action 'delete' is not one of insert, remove, update"),
        (8, "nmdc:bsm-11-a2", "attribute 'bad..path' is no dotted path (names, or digits for a list position)"),
        (2, "nmdc:bsm-11-a1", "the changed document breaks the schema at /depth_m: -3 is less than the minimum of 0"),
        (4, "nmdc:bsm-11-zz", "unknown id 'nmdc:bsm-11-zz': no stored document has it"),
        (6, "nmdc:bsm-11-a2", "remove associated_studies: 'nmdc:not-there' is not in the list"),
        (7, "nmdc:bsm-11-a2", "insert env_medium: is a str, not a list to insert into"),
        (
            9,
            "nmdc:sty-11-demo01",
            "the changed document breaks the schema at /: Additional properties are not allowed ('colour' was unexpected)",
        ),
    ]
    error = expect_error(422, "INVALID_CHANGESHEET", admin.submit_changesheet, sheet)
    assert error.details["problems"] == check.problems and "nothing was submitted" in error.message
    assert admin.get("/objects", types=["metadata-changesheet"])["items"] == []
    for bad, message in (
        (b"", "the first line must name the columns"),
        (b"id,action,attribute,value\nx,update,a,1\n", "the first line must name the columns"),
        (b"\xff\xfe", "not UTF-8 text"),
        (tsv("x\tupdate\ta\t1\textra"), "5 columns"),
    ):
        (problem, *_) = admin.validate_changesheet(bad).problems
        assert message in problem["message"], (bad, problem)
    assert_error(
        call(admin, "POST", "/metadata/changesheets:validate", params={"schema": "nope"}, data=b"x"),
        422,
        "UNKNOWN_SCHEMA",
    )
    assert admin.metadata_document("biosample_set", "nmdc:bsm-11-a1").version == 1


def test_a_changesheet_that_no_longer_applies_changes_nothing(stored):
    admin = stored
    first = admin.submit_changesheet(tsv("nmdc:bsm-11-a2\tremove\tdepth_m\t", "nmdc:bsm-11-a1\tupdate\tdepth_m\t0.3"))
    again = admin.submit_changesheet(tsv("nmdc:bsm-11-a1\tupdate\tdepth_m\t0.5", "nmdc:bsm-11-a2\tremove\tdepth_m\t"))
    admin.apply_changesheet(first.id)
    error = expect_error(422, "INVALID_CHANGESHEET", admin.apply_changesheet, again.id)
    assert "remove depth_m: there is no such attribute" in error.details["problems"][0]["message"]
    assert admin.metadata_document("biosample_set", "nmdc:bsm-11-a1").document["depth_m"] == 0.3  # not 0.5


def test_two_changesheets_on_one_document_at_the_same_moment_both_land(stored):
    admin = stored
    sheets = [
        admin.submit_changesheet(tsv(f"nmdc:bsm-11-a1\tinsert\tassociated_studies\tnmdc:sty-11-x{i}")) for i in range(6)
    ]
    barrier, errors = threading.Barrier(len(sheets)), []

    def apply(object_id):
        barrier.wait()
        try:
            admin.apply_changesheet(object_id)
        except RuntimeClientError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=apply, args=(sheet.id,)) for sheet in sheets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    document = admin.metadata_document("biosample_set", "nmdc:bsm-11-a1")
    assert sorted(document.document["associated_studies"]) == ["nmdc:sty-11-demo01"] + [
        f"nmdc:sty-11-x{i}" for i in range(6)
    ]
    assert document.version == 1 + len(sheets)


def test_who_may_check_submit_and_apply(stored, make_site, store, catalog):
    admin = stored
    site = make_site("site-a", ["py"])
    store.create_user("erin", "pw")
    erin = call(
        admin, "POST", "/token", token="", data={"grant_type": "password", "username": "erin", "password": "pw"}
    )
    token = erin.json()["access_token"]
    sheet = tsv("nmdc:bsm-11-a1\tupdate\tdepth_m\t0.3")
    headers = {"Content-Type": "text/tab-separated-values"}
    for path in ("/metadata/changesheets:validate", "/metadata/changesheets:submit"):
        assert_error(call(admin, "POST", path, data=sheet, headers=headers, token=""), 401, "MISSING_TOKEN")
        assert call(admin, "POST", path, data=sheet, headers=headers, token=token).status_code in (200, 201)
    submitted = admin.submit_changesheet(sheet)
    body = {"object_id": submitted.id}
    assert_error(call(admin, "POST", "/metadata/changesheets:apply", json=body, token=token), 403, "SITE_OR_ADMIN_ONLY")
    assert_error(call(site, "POST", "/metadata/changesheets:apply", json=body), 422, "OPERATION_REQUIRED")
    op = site.claim_job(catalog.create_job("wf", [])["id"])
    applied = call(site, "POST", "/metadata/changesheets:apply", json={**body, "operation_id": op["id"]})
    assert applied.status_code == 200, applied.text
    assert admin.metadata_document("biosample_set", "nmdc:bsm-11-a1").updated_by == f"job:{op['job_id']}"


def test_hostile_changesheets_and_document_sets_are_refused_as_problems_never_500(stored, store):
    admin = stored
    for sheet, message in (
        (tsv("nmdc:bsm-11-a1\tupdate\tname\t" + "x" * 200_000), "not a TSV row"),  # past csv's field limit
        (b"id\taction\tattribute\tvalue\nnmdc:bsm-11-a1\tupdate\tname\ta\rb\n", "not a TSV row"),
    ):
        (problem,) = admin.validate_changesheet(sheet).problems
        assert message in problem["message"], problem
    # values the store cannot keep stay text, which the schema then judges (depth_m must be a number)
    for value in ("NaN", "[" * 5000 + "]" * 5000):
        check = admin.validate_changesheet(tsv(f"nmdc:bsm-11-a1\tupdate\tdepth_m\t{value}"))
        assert not check.valid and "breaks the schema at /depth_m" in check.problems[0]["message"]
    for document_set, message in (
        (b'{"study_set": [{"id": "x:1", "n": NaN}]}', "finite"),
        (b"[" * 100_000, "not JSON"),
    ):
        obj = admin.create_object(document_set, name="bad.json", types=["docset"])
        error = expect_error(422, "INVALID_DOCUMENT_SET", admin.ingest_metadata, obj["id"])
        assert message in error.message.lower() or message in error.message, error.message
    pending = admin.post(
        "/objects",
        {"name": "p", "types": ["docset"], "size": 1, "checksums": [{"type": "sha256", "checksum": "a" * 64}]},
    )
    expect_error(409, "CONTENT_NOT_UPLOADED", admin.ingest_metadata, pending["id"])
    expect_error(409, "CONTENT_NOT_UPLOADED", admin.apply_changesheet, pending["id"])
    for bad in ('{"depth_m": 1e999}', '{"depth_m": 100000000000000000000}', '{"name": "a\\u0000b"}', "[" * 3000):
        response = call(admin, "GET", "/metadata/biosample_set", params={"filter": bad})
        assert_error(response, 422, "INVALID_FILTER")
