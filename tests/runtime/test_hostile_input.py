"""Hostile input (issue 7): JSON nested too deeply, strings that are not Unicode, numbers that are not
finite, media types that cannot be a header. Each is a 422 that changes nothing, on both backends,
and every list and item endpoint keeps answering afterwards."""

import hashlib

import pytest
import requests

from tests.utils.api import JSON, LISTS, assert_error, call, error_fields, snapshot


def nested(depth: int, leaf="x") -> str:
    """A JSON text of `depth` nested arrays around `leaf`."""
    return "[" * depth + f'"{leaf}"' + "]" * depth


def assert_lists_answer(client, world) -> None:
    for path in (*LISTS, f"/jobs/{world['open_job']['id']}", f"/operations/{world['op']['id']}"):
        response = call(client, "GET", path)
        assert response.status_code == 200, (path, response.status_code, response.text[:300])


def bodies_around(value: str, world) -> list[tuple]:
    """(client, method, path, raw JSON body) placing `value` in every free-form JSON field."""
    admin, site, op = world["admin"], world["site"], world["op"]
    return [
        (admin, "POST", "/jobs", f'{{"workflow_id": "wf", "config": {{"k": {value}}}}}'),
        (
            admin,
            "PUT",
            "/triggers/doc-wf",
            f'{{"id": "doc-wf", "object_type_id": "doc", "workflow_id": "wf", "config": {{"k": {value}}}}}',
        ),
        (site, "PATCH", f"/operations/{op['id']}", f'{{"metadata": {{"k": {value}}}}}'),
        (site, "PATCH", f"/operations/{op['id']}", f'{{"done": true, "result": {{"k": {value}}}}}'),
        (
            site,
            "PATCH",
            f"/operations/{op['id']}",
            f'{{"done": true, "error": {{"code": "X", "message": "m", "details": {{"k": {value}}}}}}}',
        ),
    ]


@pytest.mark.parametrize("depth", [64, 255, 256, 400, 1000, 100_000])
def test_json_nested_too_deeply_is_422_and_stores_nothing(world, store, depth):
    admin = world["admin"]
    before = snapshot(admin, store)
    for client, method, path, body in bodies_around(nested(depth), world):
        assert_error(call(client, method, path, data=body, headers=JSON), 422, "JSON_TOO_DEEP")
    assert snapshot(admin, store) == before
    assert_lists_answer(admin, world)


def test_json_at_the_depth_limit_is_stored_and_read_back(world):
    admin, site, op = world["admin"], world["site"], world["op"]
    config = "x"
    for _ in range(63):  # the body is the first of the 64 levels, config the second
        config = {"k": config}
    job = call(admin, "POST", "/jobs", json={"workflow_id": "wf", "config": config})
    assert job.status_code == 201, job.text[:300]
    assert call(admin, "GET", f"/jobs/{job.json()['id']}").json()["config"] == config
    one_more = call(admin, "POST", "/jobs", json={"workflow_id": "wf", "config": {"k": config}})
    assert_error(one_more, 422, "JSON_TOO_DEEP")
    metadata = config["k"]  # {"metadata": ...} nests one level less than a job's config does
    assert call(site, "PATCH", f"/operations/{op['id']}", json={"metadata": {"k": metadata}}).status_code == 200
    assert call(admin, "GET", f"/operations/{op['id']}").json()["metadata"]["k"] == metadata
    assert_lists_answer(admin, world)


@pytest.mark.parametrize(
    "value, code",
    [
        ('"\\ud800"', "LONE_SURROGATE"),
        ('"a\\udfffb"', "LONE_SURROGATE"),
        ('["ok", {"\\udc00": 1}]', "LONE_SURROGATE"),
        ("NaN", "NON_FINITE_NUMBER"),
        ("Infinity", "NON_FINITE_NUMBER"),
        ("-Infinity", "NON_FINITE_NUMBER"),
        ("1e400", "NON_FINITE_NUMBER"),
        ("[1, -1e999]", "NON_FINITE_NUMBER"),
        ('"a\\u0000b"', "NUL_CHARACTER"),
    ],
)
def test_unstorable_strings_and_numbers_are_422_and_store_nothing(world, store, value, code):
    admin = world["admin"]
    before = snapshot(admin, store)
    for client, method, path, body in bodies_around(value, world):
        error = assert_error(call(client, method, path, data=body, headers=JSON), 422, code)
        assert error["details"]["location"][:1] in (["config"], ["metadata"], ["result"], ["error"]), error
    for field in ("name", "description"):  # plain string fields, not only free-form JSON
        body = f'{{"id": "doc", "name": "Doc", "{field}": {value}}}'
        assert_error(call(admin, "PUT", "/object_types/doc", data=body, headers=JSON), 422)
    assert snapshot(admin, store) == before
    assert_lists_answer(admin, world)


def test_a_valid_surrogate_pair_is_fine(world):
    admin = world["admin"]
    job = call(
        admin, "POST", "/jobs", data='{"workflow_id": "wf", "config": {"emoji": "\\ud83d\\ude00"}}', headers=JSON
    )
    assert job.status_code == 201, job.text[:300]
    assert call(admin, "GET", f"/jobs/{job.json()['id']}").json()["config"] == {"emoji": "\U0001f600"}


def test_token_refuses_unstorable_credentials_with_422(world, store, server):
    admin = world["admin"]
    store.create_user("bob", "pw")
    before = snapshot(admin, store)
    for body in (
        '{"grant_type": "password", "username": "\\ud800", "password": "x"}',
        '{"grant_type": "password", "username": "bob", "password": "\\udfff"}',
        '{"grant_type": "client_credentials", "client_id": "\\ud800", "client_secret": "x"}',
        '{"grant_type": "password", "username": "bob", "password": NaN}',
    ):
        assert_error(requests.post(server + "/token", data=body, headers=JSON, timeout=30), 422)
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    for body in (
        b"grant_type=password&username=%ED%A0%80&password=x",
        b"grant_type=password&username=bob&password=%FF",
        b"grant_type=password&username=b\xffob&password=x",
    ):
        assert_error(requests.post(server + "/token", data=body, headers=form, timeout=30), 422, "INVALID_ENCODING")
    assert_error(
        requests.post(
            server + "/token", data=b"grant_type=password&username=bob&password=p%00w", headers=form, timeout=30
        ),
        422,
        "NUL_CHARACTER",
    )
    assert snapshot(admin, store) == before


def test_query_strings_that_are_not_utf8_are_422(world):
    admin = world["admin"]
    for path in ("/jobs?workflow_id=%ED%A0%80", "/objects?types=%FF", "/operations?site_id=a%C3"):
        assert_error(call(admin, "GET", path), 422, "INVALID_ENCODING")
    drs = assert_error(
        call(admin, "GET", f"/ga4gh/drs/v1/objects/{world['object']['id']}?x=%FF"), 422, "INVALID_ENCODING"
    )
    assert drs["status_code"] == 422 and drs["msg"] == drs["message"]  # what GA4GH DRS clients read
    assert call(admin, "GET", "/jobs?workflow_id=caf%C3%A9").status_code == 200


def _object_spec(content: bytes, mime_type: str) -> dict:
    return {
        "name": "x.bin",
        "types": ["doc"],
        "size": len(content),
        "mime_type": mime_type,
        "checksums": [{"type": "sha256", "checksum": hashlib.sha256(content).hexdigest()}],
    }


@pytest.mark.parametrize(
    "mime_type",
    [
        "text/plain\r\nX-Injected: 1",
        "text/plain\n",
        "tëxt/plain",
        "text/plain; charset=ü",
        "text/\u2028plain",
        "text",
        "/plain",
        "text/",
        " text/plain",
        "text/plain;",
        "",
        "text/plain; charset",
        'text/plain; a="unterminated',
        "text/plain, text/html",
    ],
)
def test_mime_type_that_cannot_be_a_content_type_is_422(world, store, mime_type):
    admin = world["admin"]
    before = snapshot(admin, store)
    error = assert_error(
        call(admin, "POST", "/objects", json=_object_spec(b"hello", mime_type)), 422, "INVALID_ARGUMENT"
    )
    assert "mime_type" in error_fields(error), error
    assert snapshot(admin, store) == before


@pytest.mark.parametrize(
    "mime_type",
    ["text/plain", 'text/plain; charset="utf-8"', "application/vnd.api+json", "text/csv;header=present;charset=UTF-8"],
)
def test_valid_mime_types_become_the_download_content_type(world, mime_type):
    admin = world["admin"]
    content = f"bytes for {mime_type}".encode()
    obj = call(admin, "POST", "/objects", json=_object_spec(content, mime_type))
    assert obj.status_code == 201, obj.text[:300]
    assert call(admin, "PUT", f"/objects/{obj.json()['id']}/content", data=content).status_code == 200
    download = call(admin, "GET", f"/objects/{obj.json()['id']}/content")
    assert download.status_code == 200 and download.content == content
    assert download.headers["content-type"].startswith(mime_type)
