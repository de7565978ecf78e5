"""Bad input over HTTP: every error is JSON {code, message, details} with its 4xx status (never
5xx), and a refused request leaves every table and list endpoint exactly as it was."""

import hashlib
import json
import random
import re

import requests

from orchestrator.runtime.client import Credentials, RuntimeClient
from tests.utils.api import JSON, LISTS, assert_error, call, db_rows, error_fields, is_error_body, snapshot

# ---- malformed and invalid bodies


def test_malformed_json_is_400(world, store):
    admin, site, op = world["admin"], world["site"], world["op"]
    before = snapshot(admin, store)
    for body in (b'{"workflow_id": "wf"', b"{'workflow_id': 'wf'}", b"not json", b'{"a": 1,}', b'{"a": 1} {"b": 2}'):
        assert_error(call(admin, "POST", "/jobs", data=body, headers=JSON), 400, "MALFORMED_JSON")
        assert_error(call(site, "PATCH", f"/operations/{op['id']}", data=body, headers=JSON), 400, "MALFORMED_JSON")
        assert_error(call(admin, "PUT", "/object_types/doc", data=body, headers=JSON), 400, "MALFORMED_JSON")
    assert snapshot(admin, store) == before


def test_json_that_is_not_utf8_is_malformed_json(world, store):
    admin, site, op = world["admin"], world["site"], world["op"]
    before = snapshot(admin, store)
    for body in (b'{"workflow_id": "\xc3\x28"}', b'{"workflow_id": "wf", "config": {"k": "caf\xe9"}}'):
        assert_error(call(admin, "POST", "/jobs", data=body, headers=JSON), 400, "MALFORMED_JSON")
        assert_error(call(site, "PATCH", f"/operations/{op['id']}", data=body, headers=JSON), 400, "MALFORMED_JSON")
        assert_error(call(admin, "PUT", "/object_types/doc", data=body, headers=JSON), 400, "MALFORMED_JSON")
    assert snapshot(admin, store) == before


def test_wrong_field_types_are_422_naming_the_field(world, store):
    admin, site, op_id = world["admin"], world["site"], world["op"]["id"]
    before = snapshot(admin, store)
    cases = [
        (admin, "POST", "/jobs", {"workflow_id": 5}, "workflow_id"),
        (admin, "POST", "/jobs", {"workflow_id": "wf", "inputs": "obj-1"}, "inputs"),
        (admin, "POST", "/jobs", {"workflow_id": "wf", "max_attempts": "many"}, "max_attempts"),
        (admin, "POST", "/jobs", {"workflow_id": "wf", "config": []}, "config"),
        (admin, "PUT", "/object_types/doc", {"id": "doc", "name": ["Document"]}, "name"),
        (
            admin,
            "PUT",
            "/workflows/wf",
            {"id": "wf", "name": "W", "dagster_job": "j", "capability_ids": "py"},
            "capability_ids",
        ),
        (
            admin,
            "PUT",
            "/triggers/doc-wf",
            {"id": "doc-wf", "object_type_id": "doc", "workflow_id": "wf", "config": "x"},
            "config",
        ),
        (
            admin,
            "POST",
            "/objects",
            {"name": "a", "types": ["doc"], "size": "big", "checksums": [{"type": "sha256", "checksum": "0" * 64}]},
            "size",
        ),
        (admin, "POST", "/sites", {"id": "site-b", "capability_ids": [1, 2]}, "capability_ids"),
        (site, "PATCH", f"/operations/{op_id}", {"done": "maybe"}, "done"),
        (site, "PATCH", f"/operations/{op_id}", {"metadata": "50%"}, "metadata"),
        (site, "PATCH", f"/operations/{op_id}", {"lease_seconds": "long"}, "lease_seconds"),
        (site, "POST", "/operations:heartbeat", {"operation_ids": op_id}, "operation_ids"),
        (site, "POST", f"/jobs/{world['open_job']['id']}:claim", {"lease_seconds": [60]}, "lease_seconds"),
    ]
    for client, method, path, body, field in cases:
        error = assert_error(call(client, method, path, json=body), 422, "INVALID_ARGUMENT")
        assert field in error_fields(error) and field in error["message"], (path, body, error)
    assert snapshot(admin, store) == before


def test_unknown_fields_are_422(world, store):
    admin, site, op = world["admin"], world["site"], world["op"]
    before = snapshot(admin, store)
    cases = [
        (admin, "POST", "/jobs", {"workflow_id": "wf", "priority": 1}, "priority"),
        (admin, "PUT", "/object_types/doc", {"id": "doc", "name": "Document", "colour": "red"}, "colour"),
        (admin, "PUT", "/workflows/wf", {"id": "wf", "name": "W", "dagster_job": "j", "owner": "me"}, "owner"),
        (
            admin,
            "PUT",
            "/triggers/doc-wf",
            {"id": "doc-wf", "object_type_id": "doc", "workflow_id": "wf", "when": "now"},
            "when",
        ),
        (admin, "POST", "/sites", {"id": "site-b", "capabilities": ["py"]}, "capabilities"),
        (
            admin,
            "POST",
            "/objects",
            {
                "name": "a",
                "types": ["doc"],
                "size": 1,
                "sha256": "0" * 64,
                "checksums": [{"type": "sha256", "checksum": "0" * 64}],
            },
            "sha256",
        ),
        (site, "PATCH", f"/operations/{op['id']}", {"status": "succeeded"}, "status"),
        (
            site,
            "PATCH",
            f"/operations/{op['id']}",
            {"done": True, "error": {"code": "X", "message": "m", "trace": "t"}},
            "trace",
        ),
    ]
    for client, method, path, body, field in cases:
        error = assert_error(call(client, method, path, json=body), 422, "INVALID_ARGUMENT")
        assert field in error_fields(error), (path, error)
    assert snapshot(admin, store) == before


def test_missing_required_fields_are_422(world, store):
    admin = world["admin"]
    before = snapshot(admin, store)
    cases = [
        ("POST", "/jobs", {}, {"workflow_id"}),
        ("POST", "/jobs", {"inputs": []}, {"workflow_id"}),
        ("PUT", "/object_types/x", {"id": "x"}, {"name"}),
        ("PUT", "/workflows/x", {"id": "x", "name": "X"}, {"dagster_job"}),
        ("PUT", "/triggers/x", {"id": "x", "object_type_id": "doc"}, {"workflow_id"}),
        ("POST", "/objects", {"name": "a"}, {"types", "size", "checksums"}),
        (
            "POST",
            "/objects",
            {"name": "a", "types": ["doc"], "size": 1, "checksums": [{"type": "md5", "checksum": "ab"}]},
            {"checksums"},
        ),
        ("POST", "/sites", {"capability_ids": []}, {"id"}),
        ("POST", "/operations:heartbeat", {}, {"operation_ids"}),
    ]
    for method, path, body, fields in cases:
        client = world["site"] if path.startswith("/operations") else admin
        error = assert_error(call(client, method, path, json=body), 422, "INVALID_ARGUMENT")
        assert fields <= error_fields(error), (path, error)
    for method, path in (("POST", "/jobs"), ("PUT", "/object_types/x"), ("POST", "/objects"), ("POST", "/sites")):
        assert_error(call(admin, method, path), 422, "INVALID_ARGUMENT")  # no body at all
    assert snapshot(admin, store) == before


# ---- unknown ids


def test_unknown_ids_in_paths_are_404(world, store):
    admin, site = world["admin"], world["site"]
    before = snapshot(admin, store)
    cases = [
        (admin, "GET", "/jobs/nope", "JOB_NOT_FOUND"),
        (site, "POST", "/jobs/nope:claim", "JOB_NOT_FOUND"),
        (admin, "POST", "/jobs/nope:release", "JOB_NOT_FOUND"),
        (admin, "POST", "/jobs/nope:cancel", "JOB_NOT_FOUND"),
        (admin, "GET", "/operations/nope", "OPERATION_NOT_FOUND"),
        (site, "PATCH", "/operations/nope", "OPERATION_NOT_FOUND"),
        (admin, "GET", "/objects/nope", "OBJECT_NOT_FOUND"),
        (admin, "GET", "/objects/nope/content", "OBJECT_NOT_FOUND"),
        (admin, "PUT", "/objects/nope/content", "OBJECT_NOT_FOUND"),
        (admin, "GET", "/ga4gh/drs/v1/objects/nope", "OBJECT_NOT_FOUND"),
        (admin, "GET", "/sites/nope", "SITE_NOT_FOUND"),
        (admin, "POST", "/sites/nope:generateCredentials", "SITE_NOT_FOUND"),
        (admin, "GET", "/sites/nope/credentials", "SITE_NOT_FOUND"),
        (admin, "DELETE", "/sites/site-a/credentials/nope", "CLIENT_NOT_FOUND"),
        (admin, "GET", "/workflows/nope", "WORKFLOW_NOT_FOUND"),
        (admin, "GET", "/triggers/nope", "TRIGGER_NOT_FOUND"),
        (admin, "GET", "/object_types/nope", "OBJECT_TYPE_NOT_FOUND"),
    ]
    wrong = []
    for client, method, path, code in cases:
        body = {"metadata": {"x": 1}} if method == "PATCH" else None
        data = b"abc" if method == "PUT" else None
        try:
            assert_error(call(client, method, path, json=body, data=data), 404, code)
        except AssertionError as exc:
            wrong.append(f"{method} {path}: {exc.args[0] if exc.args else exc}")
    assert not wrong, "\n".join(wrong)
    assert snapshot(admin, store) == before


def test_unknown_ids_in_bodies_are_422_and_create_nothing(world, store):
    admin = world["admin"]
    before = snapshot(admin, store)
    # POST /jobs
    error = assert_error(call(admin, "POST", "/jobs", json={"workflow_id": "nope"}), 422, "UNKNOWN_WORKFLOW")
    assert "nope" in error["message"]
    error = assert_error(
        call(admin, "POST", "/jobs", json={"workflow_id": "wf", "inputs": [world["object"]["id"], "obj-nope"]}),
        422,
        "UNKNOWN_OBJECT",
    )
    assert error["details"]["missing"] == ["obj-nope"]
    assert_error(call(admin, "POST", "/jobs", json={"id": "explicit", "workflow_id": "nope"}), 422, "UNKNOWN_WORKFLOW")
    assert_error(call(admin, "GET", "/jobs/explicit"), 404, "JOB_NOT_FOUND")
    # PUT /triggers: a new one, and replacing an existing one with a dangling reference keeps the old one
    for trigger_id in ("t2", "doc-wf"):
        for body, code in (
            ({"object_type_id": "nope", "workflow_id": "wf"}, "UNKNOWN_OBJECT_TYPE"),
            ({"object_type_id": "doc", "workflow_id": "nope"}, "UNKNOWN_WORKFLOW"),
        ):
            assert_error(call(admin, "PUT", f"/triggers/{trigger_id}", json={"id": trigger_id, **body}), 422, code)
    assert_error(call(admin, "GET", "/triggers/t2"), 404, "TRIGGER_NOT_FOUND")
    assert call(admin, "GET", "/triggers/doc-wf").json()["workflow_id"] == "wf"
    # POST /objects: no upload reservation either (the uploads table is in the snapshot)
    body = {
        "name": "a",
        "types": ["doc", "nope"],
        "size": 5,
        "checksums": [{"type": "sha256", "checksum": hashlib.sha256(b"hello").hexdigest()}],
    }
    error = assert_error(call(admin, "POST", "/objects", json=body), 422, "UNKNOWN_OBJECT_TYPE")
    assert error["details"]["missing"] == ["nope"]
    assert snapshot(admin, store) == before


# ---- duplicates and idempotency


def test_duplicate_ids(catalog, store):
    """A second site with the same id is 409; a job re-posted with its explicit id is 200 if identical, else 409."""
    assert call(catalog, "POST", "/sites", json={"id": "site-b", "capability_ids": ["py"]}).status_code == 201
    spec = {"id": "job-x", "workflow_id": "wf", "config": {"a": 1}}
    first = call(catalog, "POST", "/jobs", json=spec)
    assert first.status_code == 201
    before = snapshot(catalog, store)
    error = assert_error(
        call(catalog, "POST", "/sites", json={"id": "site-b", "capability_ids": ["r"]}), 409, "ALREADY_EXISTS"
    )
    assert error["details"] == {"id": "site-b"}
    assert call(catalog, "GET", "/sites/site-b").json()["capability_ids"] == ["py"]
    for same in (spec, {**spec, "inputs": [], "max_attempts": 3}):  # also with the defaults spelled out
        again = call(catalog, "POST", "/jobs", json=same)
        assert again.status_code == 200 and again.json() == first.json()
    for changed in ({**spec, "config": {"a": 2}}, {**spec, "max_attempts": 7}, {**spec, "config": {"a": 1, "b": 2}}):
        assert_error(call(catalog, "POST", "/jobs", json=changed), 409, "ALREADY_EXISTS")
    assert snapshot(catalog, store) == before
    assert [j["id"] for j in call(catalog, "GET", "/jobs").json()["items"]] == ["job-x"]


def test_trigger_made_job_has_a_deterministic_id(world, store):
    admin, obj = world["admin"], world["object"]
    other = admin.create_object(b"other", name="other.txt", types=["doc"])
    body = {"workflow_id": "wf", "inputs": [obj["id"], other["id"]]}
    first = call(admin, "POST", "/jobs", json=body)
    assert first.status_code == 201
    before = snapshot(admin, store)
    second = call(admin, "POST", "/jobs", json=body)
    assert second.status_code == 200 and second.json() == first.json()
    assert (
        world["open_job"]["id"]
        == call(admin, "POST", "/jobs", json={"workflow_id": "wf", "inputs": [obj["id"]]}).json()["id"]
    )
    # the id is derived from the sorted inputs, so the same inputs in another order are the same job
    swapped = call(admin, "POST", "/jobs", json={"workflow_id": "wf", "inputs": [other["id"], obj["id"]]})
    assert swapped.status_code == 200, swapped.text
    assert swapped.json()["id"] == first.json()["id"]
    assert snapshot(admin, store) == before


def test_put_with_mismatched_id_is_422(catalog, store):
    before = snapshot(catalog, store)
    for path, body in (
        ("/object_types/x", {"id": "y", "name": "Y"}),
        ("/workflows/x", {"id": "y", "name": "Y", "dagster_job": "j"}),
        ("/triggers/x", {"id": "y", "object_type_id": "doc", "workflow_id": "wf"}),
        ("/object_types/doc", {"id": "other", "name": "Renamed"}),
    ):
        assert_error(call(catalog, "PUT", path, json=body), 422, "ID_MISMATCH")
    assert snapshot(catalog, store) == before


# ---- who may do what


def test_missing_garbage_or_revoked_token_is_401(admin, store, server):
    before = snapshot(admin, store)
    for headers, code in (
        ({}, "MISSING_TOKEN"),
        ({"Authorization": "Basic YWRtaW46cHc="}, "MISSING_TOKEN"),
        ({"Authorization": "Bearer"}, "MISSING_TOKEN"),
        ({"Authorization": "Bearer garbage"}, "INVALID_TOKEN"),
    ):
        for method, path in (
            ("GET", "/jobs"),
            ("POST", "/jobs"),
            ("PUT", "/object_types/x"),
            ("GET", "/ga4gh/drs/v1/objects/x"),
        ):
            response = requests.request(method, server + path, headers=headers, json={"workflow_id": "wf"}, timeout=30)
            assert_error(response, 401, code)
            assert response.headers["WWW-Authenticate"] == "Bearer"
    store.create_user("bob", "pw")
    token = requests.post(
        server + "/token", data={"grant_type": "password", "username": "bob", "password": "pw"}, timeout=30
    ).json()["access_token"]
    assert call(admin, "GET", "/jobs", token=token).status_code == 200
    assert call(admin, "POST", "/token:revoke", json={"token": token}, token=token).status_code == 200
    assert_error(call(admin, "GET", "/jobs", token=token), 401, "TOKEN_REVOKED")
    assert_error(call(admin, "POST", "/jobs", json={"workflow_id": "wf"}, token=token), 401, "TOKEN_REVOKED")
    bad_login = requests.post(
        server + "/token", data={"grant_type": "password", "username": "bob", "password": "wrong"}, timeout=30
    )
    assert_error(bad_login, 401, "INVALID_CREDENTIALS")
    after = db_rows(store)
    assert len(after["login_failures"]) == 3  # the failed login counts for bob here, this address, and bob anywhere
    before[1]["users"], before[1]["login_failures"] = (
        after["users"],
        after["login_failures"],
    )  # bob is the only other change
    assert snapshot(admin, store) == before


def test_non_admin_cannot_change_the_catalog_or_sites(world, store, server):
    admin, site = world["admin"], world["site"]
    store.create_user("bob", "pw")
    bob = RuntimeClient(server, Credentials(username="bob", password="pw"), max_retries=1)
    before = snapshot(admin, store)
    for client in (bob, site):
        for method, path, body in (
            ("PUT", "/workflows/wf", {"id": "wf", "name": "Hijacked", "dagster_job": "evil"}),
            ("PUT", "/workflows/new", {"id": "new", "name": "New", "dagster_job": "j"}),
            ("PUT", "/object_types/doc", {"id": "doc", "name": "Hijacked"}),
            (
                "PUT",
                "/triggers/doc-wf",
                {"id": "doc-wf", "object_type_id": "doc", "workflow_id": "wf", "config": {"x": 1}},
            ),
            ("POST", "/sites", {"id": "site-evil", "capability_ids": ["py"]}),
        ):
            assert_error(call(client, method, path, json=body), 403, "ADMIN_ONLY")
    for client in (bob, site):  # a site's one-hour token must not mint itself permanent credentials
        assert_error(call(client, "POST", "/sites/site-a:generateCredentials"), 403, "ADMIN_ONLY")
        assert_error(call(client, "GET", "/sites/site-a/credentials"), 403, "ADMIN_ONLY")
        assert_error(
            call(client, "DELETE", f"/sites/site-a/credentials/{site.credentials.client_id}"), 403, "ADMIN_ONLY"
        )
    assert_error(call(bob, "POST", f"/jobs/{world['open_job']['id']}:claim"), 403, "SITE_ONLY")
    assert_error(call(bob, "PATCH", f"/operations/{world['op']['id']}", json={"metadata": {"x": 1}}), 403, "SITE_ONLY")
    assert snapshot(admin, store) == before
    assert call(admin, "GET", "/workflows/wf").json()["name"] == "Workflow"


def test_site_cannot_touch_another_sites_operation(world, make_site, store):
    admin, op, job = world["admin"], world["op"], world["claimed_job"]
    intruder = make_site("site-b", ["py"])
    before = snapshot(admin, store)
    for patch in (
        {"metadata": {"progress": 99}},
        {"done": True, "result": {"stolen": True}},
        {"done": True, "error": {"code": "X", "message": "sabotage"}},
        {"lease_seconds": 1},
    ):
        assert_error(call(intruder, "PATCH", f"/operations/{op['id']}", json=patch), 403, "NOT_OWNER")
    assert_error(call(intruder, "POST", f"/jobs/{job['id']}:release"), 403, "NOT_OWNER")
    assert snapshot(admin, store) == before
    assert call(admin, "GET", f"/operations/{op['id']}").json() == op


# ---- state machine


def test_invalid_job_transitions_are_409(world, store):
    admin, site, op = world["admin"], world["site"], world["op"]
    open_job, claimed = world["open_job"], world["claimed_job"]
    before = snapshot(admin, store)
    assert_error(call(admin, "POST", f"/jobs/{open_job['id']}:release"), 409, "INVALID_TRANSITION")
    assert_error(call(site, "POST", f"/jobs/{claimed['id']}:claim"), 409, "JOB_NOT_OPEN")
    assert snapshot(admin, store) == before
    assert call(site, "PATCH", f"/operations/{op['id']}", json={"done": True, "result": {"ok": 1}}).status_code == 200
    before = snapshot(admin, store)
    assert_error(call(admin, "POST", f"/jobs/{claimed['id']}:cancel"), 409, "INVALID_TRANSITION")
    assert_error(call(admin, "POST", f"/jobs/{claimed['id']}:release"), 409, "INVALID_TRANSITION")
    assert_error(call(site, "POST", f"/jobs/{claimed['id']}:claim"), 409, "JOB_NOT_OPEN")
    assert snapshot(admin, store) == before


def test_invalid_reports_are_refused(world, store):
    admin, site, op = world["admin"], world["site"], world["op"]
    path = f"/operations/{op['id']}"
    before = snapshot(admin, store)
    error = {"code": "BOOM", "message": "it broke"}
    for patch in (
        {"done": True, "result": {"ok": 1}, "error": error},
        {"done": True},
        {"done": True, "metadata": {"p": 1}},
        {"result": {"ok": 1}},
        {"done": False, "result": {"ok": 1}},
        {"error": error},
    ):
        assert_error(call(site, "PATCH", path, json=patch), 422, "INVALID_REPORT")
    assert snapshot(admin, store) == before
    assert call(site, "PATCH", path, json={"done": True, "result": {"ok": 1}}).status_code == 200
    before = snapshot(admin, store)
    for patch in (
        {"done": False},
        {"done": False, "metadata": {"progress": 10}},
        {"metadata": {"progress": 10}},
        {"done": True, "result": {"ok": 2}},
        {"done": True, "error": error},
    ):
        assert_error(call(site, "PATCH", path, json=patch), 409, "OPERATION_DONE")
    assert (
        call(site, "PATCH", path, json={"done": True, "result": {"ok": 1}}).status_code == 200
    )  # same report: idempotent
    assert snapshot(admin, store) == before


# ---- routing, query parameters, odd bodies


def test_unknown_route_and_wrong_method_are_json(server):
    for path in ("/nope", "/jobs/a/b/c", "/ga4gh/drs/v1/nope", "/objects/x/contents"):
        assert_error(
            requests.get(server + path, headers={"Authorization": "Bearer whatever"}, timeout=30), 404, "NOT_FOUND"
        )
    for method, path in (
        ("DELETE", "/jobs"),
        ("PUT", "/jobs"),
        ("PATCH", "/sites"),
        ("DELETE", "/object_types/doc"),
        ("GET", "/token"),
        ("POST", "/healthz"),
        ("GET", "/operations:heartbeat"),
        ("POST", "/objects/x"),
    ):
        assert_error(requests.request(method, server + path, json={}, timeout=30), 405, "METHOD_NOT_ALLOWED")


def test_wrong_method_names_the_allowed_ones(server):
    """RFC 9110 (15.5.6): a 405 response MUST carry an Allow header naming supported methods."""
    for method, path, supported in (
        ("DELETE", "/jobs", {"GET", "POST"}),
        ("POST", "/healthz", {"GET"}),
        ("DELETE", "/object_types/doc", {"GET", "PUT"}),
        ("GET", "/token", {"POST"}),
    ):
        response = requests.request(method, server + path, timeout=30)
        assert_error(response, 405, "METHOD_NOT_ALLOWED")
        allowed = {m.strip() for m in response.headers.get("Allow", "").split(",") if m.strip()}
        assert allowed and allowed <= supported, (method, path, response.headers)


def test_bad_query_params_are_422(catalog, store):
    before = snapshot(catalog, store)
    cases = [
        (path, params, field)
        for path in LISTS
        for params, field in (
            ({"limit": "abc"}, "limit"),
            ({"limit": 0}, "limit"),
            ({"limit": 5000}, "limit"),
            ({"limit": -1}, "limit"),
            ({"limit": "1.5"}, "limit"),
            ({"after_seq": -1}, "after_seq"),
            ({"after_seq": "abc"}, "after_seq"),
            ({"after_seq": "1e3"}, "after_seq"),
        )
    ]
    cases += [
        ("/jobs", {"status": "bogus"}, "status"),
        ("/operations", {"done": "maybe"}, "done"),
        ("/objects", {"types": "doc", "limit": "all"}, "limit"),
    ]
    for path, params, field in cases:
        error = assert_error(call(catalog, "GET", path, params=params), 422, "INVALID_ARGUMENT")
        assert error_fields(error) == {field} and field in error["message"], (path, params, error)
    assert snapshot(catalog, store) == before


def test_cursor_beyond_the_largest_seq_is_not_a_server_error(catalog):
    """An after_seq past every seq is an empty page (or a 422), never a 500."""
    results = {}
    for path in ("/jobs", "/objects", "/sites", "/object_types"):
        for after in (2**63 - 1, 2**63, 10**30):
            response = call(catalog, "GET", path, params={"after_seq": after})
            results[f"{path}?after_seq={after}"] = response.status_code
            if response.status_code == 200:
                assert response.json() == {"items": [], "next_after_seq": None, "next_before_seq": None}
            elif response.status_code < 500:
                assert_error(response, 422, "INVALID_ARGUMENT")
    assert not {k: v for k, v in results.items() if v >= 500}, results


def test_explicit_job_id_too_long_for_the_database_is_not_a_server_error(catalog, store):
    before = snapshot(catalog, store)
    job_id = "j" * 150  # a valid Identifier (up to 200 characters)
    response = call(catalog, "POST", "/jobs", json={"id": job_id, "workflow_id": "wf"})
    if response.status_code == 201:
        assert call(catalog, "GET", f"/jobs/{job_id}").json()["id"] == job_id
    else:
        assert_error(response, 422, "INVALID_ARGUMENT")
        assert snapshot(catalog, store) == before


def test_nul_characters_are_not_server_errors(world, store, server):
    """PostgreSQL cannot store NUL in text or jsonb; the runtime must refuse it, not crash."""
    admin, site = world["admin"], world["site"]
    before = snapshot(admin, store)
    cases = [
        ("GET", "/jobs/a%00b", {}),
        ("GET", "/objects/a%00b", {}),
        ("GET", "/jobs", {"params": {"workflow_id": "a\x00b"}}),
        ("GET", "/objects", {"params": {"types": "a\x00b"}}),
        ("PUT", "/object_types/doc", {"json": {"id": "doc", "name": "Doc", "description": "a\x00b"}}),
        (
            "PUT",
            "/triggers/doc-wf",
            {"json": {"id": "doc-wf", "object_type_id": "doc", "workflow_id": "wf", "config": {"k": "a\x00b"}}},
        ),
        ("POST", "/jobs", {"json": {"workflow_id": "wf", "config": {"a\x00b": 1}}}),
        (
            "POST",
            "/objects",
            {
                "json": {
                    "name": "a\x00b",
                    "types": ["doc"],
                    "size": 1,
                    "checksums": [{"type": "sha256", "checksum": "0" * 64}],
                }
            },
        ),
    ]
    statuses = {}
    for method, path, kwargs in cases:
        response = call(admin, method, path, **kwargs)
        statuses[(method, path, json.dumps(kwargs)[:40])] = response.status_code
        if response.status_code >= 400:
            assert_error(response, response.status_code)
    response = call(site, "PATCH", f"/operations/{world['op']['id']}", json={"metadata": {"log": "a\x00b"}})
    statuses["PATCH operation"] = response.status_code
    response = requests.post(
        server + "/token", data={"grant_type": "password", "username": "a\x00b", "password": "x"}, timeout=30
    )
    statuses["POST /token"] = response.status_code
    assert not {k: v for k, v in statuses.items() if v >= 500}, statuses
    if store.writer.dialect.name == "postgresql":
        assert snapshot(admin, store) == before


def test_garbage_bodies_are_4xx(world, store):
    admin, site = world["admin"], world["site"]
    before = snapshot(admin, store)
    garbage = random.Random(7).randbytes(1 << 16) * 16  # 1 MiB of binary
    for client, method, path in (
        (admin, "POST", "/jobs"),
        (admin, "POST", "/objects"),
        (admin, "PUT", "/object_types/doc"),
        (site, "PATCH", f"/operations/{world['op']['id']}"),
    ):
        for data, headers in (
            (garbage, JSON),
            (garbage, {"Content-Type": "application/octet-stream"}),
            (garbage, {}),
            (b"[" * 100_000, JSON),
            (b"{" + b" " * (1 << 20), JSON),
        ):
            response = call(client, method, path, data=data, headers=headers)
            assert 400 <= response.status_code < 500, (path, response.status_code, response.text[:200])
            assert_error(response, response.status_code)
    assert snapshot(admin, store) == before


def test_huge_json_body_is_413(catalog, store):
    """A well-formed but huge JSON document (8 MiB of job config) is refused, not stored."""
    before = snapshot(catalog, store)
    response = call(catalog, "POST", "/jobs", json={"workflow_id": "wf", "config": {"x": "a" * (8 << 20)}})
    assert_error(response, 413)
    assert snapshot(catalog, store) == before


# ---- fuzz every documented route

FUZZ_BODIES = [
    (b"", {}),
    (b"[]", JSON),
    (b'"x"', JSON),
    (b'{"id": 5}', JSON),
    (random.Random(1).randbytes(256), JSON),
    (random.Random(2).randbytes(256), {"Content-Type": "application/octet-stream"}),
    ('{"id": "é"}'.encode("latin-1"), JSON),
]


SITE_ONLY = (":claim", "/operations/{operation_id}", "/operations:heartbeat")


def is_down_site_status(template: str, response) -> bool:
    """A site's status answers 503 by design while the site is down, with the status itself as the body."""
    return (
        template == "/sites/{site_id}/status"
        and response.status_code == 503
        and response.json().get("up") is False
        and "code" not in response.json()
    )


def test_fuzz_every_route_never_5xx(world, server):
    admin, site = world["admin"], world["site"]
    real = {
        "job_id": world["open_job"]["id"],
        "operation_id": world["op"]["id"],
        "object_id": world["object"]["id"],
        "site_id": "site-a",
        "item_id": "doc",
        "access_id": "content",
        "client_id": site.credentials.client_id,
        "collection": "study_set",
        "document_id": "nmdc:sty-1",
    }
    spec = requests.get(server + "/openapi.json", timeout=30).json()
    assert len(spec["paths"]) >= 20
    problems, sent = [], 0
    with requests.Session() as session:
        for template, operations in spec["paths"].items():
            real_path = re.sub(r"\{(\w+)\}", lambda m: real[m.group(1)], template)
            unknown_path = re.sub(r"\{(\w+)\}", "fuzz", template)
            for method in operations:
                client = site if any(marker in template for marker in SITE_ONLY) and method != "get" else admin
                attempts = [(real_path, body, headers, client.token()) for body, headers in FUZZ_BODIES]
                attempts += [(real_path, b"[]", JSON, ""), (real_path, b'{"id": 5}', JSON, "garbage")]
                if unknown_path != real_path:
                    attempts += [(unknown_path, body, headers, client.token()) for body, headers in FUZZ_BODIES[1:4]]
                for path, body, headers, token in attempts:
                    headers = {**headers, "Authorization": f"Bearer {token}"} if token else headers
                    response = session.request(method.upper(), server + path, data=body, headers=headers, timeout=30)
                    sent += 1
                    where = f"{method.upper()} {path} {body[:12]!r} {headers.get('Content-Type')}"
                    if is_down_site_status(template, response):
                        continue
                    if response.status_code >= 500:
                        problems.append(f"{where}: {response.status_code} {response.text[:120]}")
                    elif response.status_code >= 400 and not is_error_body(response):
                        problems.append(
                            f"{where}: {response.status_code} without a JSON error body: {response.text[:120]}"
                        )
    assert sent > 300
    assert not problems, "\n".join(problems)
