"""Objects over HTTP: register, upload and verify bytes, content-addressed dedup, the GA4GH DRS 1.2
view, and concurrent uploads; a refused upload leaves no object, no row and no file behind."""

import hashlib
import threading

import requests
from sqlalchemy import func, select

from orchestrator.runtime import schema
from tests.utils.api import assert_error


def call(client, method, path, **kwargs) -> requests.Response:
    headers = {"Authorization": f"Bearer {client.token()}", **kwargs.pop("headers", {})}
    return requests.request(method, client.base_url + path, headers=headers, timeout=60, **kwargs)


def spec(content: bytes, name="a.bin", types=("doc",), **overrides) -> dict:
    return {
        "name": name,
        "types": list(types),
        "size": len(content),
        "mime_type": "application/octet-stream",
        "checksums": [{"type": "sha256", "checksum": hashlib.sha256(content).hexdigest()}],
        **overrides,
    }


def register(client, content: bytes, **kwargs) -> dict:
    response = call(client, "POST", "/objects", json=spec(content, **kwargs))
    assert response.status_code == 201, response.text
    return response.json()


def upload(client, object_id: str, data, **kwargs) -> requests.Response:
    return call(
        client,
        "PUT",
        f"/objects/{object_id}/content",
        data=data,
        headers={"Content-Type": "application/octet-stream"},
        **kwargs,
    )


def blob_tree(settings) -> list[str]:
    """Everything under the blob directory, relative, directories included."""
    return sorted(p.relative_to(settings.blob_dir).as_posix() for p in settings.blob_dir.rglob("*"))


def blob_files(settings) -> list[str]:
    return sorted(p.name for p in settings.blob_dir.rglob("*") if p.is_file())


def listed_ids(client, **params) -> list[str]:
    return [o["id"] for o in call(client, "GET", "/objects", params=params).json()["items"]]


def count(store, table) -> int:
    with store.read() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_upload_flow(catalog, settings):
    content = b"\x00\x01binary \xff content" * 100
    obj = register(catalog, content, name="data.bin")
    assert obj["status"] == "pending" and obj["seq"] is None and obj["size"] == len(content)
    assert listed_ids(catalog) == []
    assert_error(call(catalog, "GET", f"/objects/{obj['id']}/content"), 409, "CONTENT_NOT_UPLOADED")
    response = upload(catalog, obj["id"], content)
    assert response.status_code == 200, response.text
    ready = response.json()
    assert ready["status"] == "ready" and ready["id"] == obj["id"] and ready["seq"] == 1
    fetched = call(catalog, "GET", f"/objects/{obj['id']}/content")
    assert fetched.status_code == 200 and fetched.content == content
    assert call(catalog, "GET", f"/objects/{obj['id']}").json() == ready
    page = call(catalog, "GET", "/objects").json()
    assert page == {"items": [ready], "next_after_seq": None, "next_before_seq": None}
    assert blob_files(settings) == [hashlib.sha256(content).hexdigest()]
    # uploading the same bytes again is harmless
    assert upload(catalog, obj["id"], content).json() == ready


def test_checksum_mismatch_stores_nothing(catalog, store, settings):
    obj = register(catalog, b"the declared bytes")
    error = assert_error(upload(catalog, obj["id"], b"other bytes of len"), 422, "CHECKSUM_MISMATCH")
    assert error["details"]["declared_sha256"] == obj["checksums"][0]["checksum"]
    assert listed_ids(catalog) == []
    assert call(catalog, "GET", f"/objects/{obj['id']}").json()["status"] == "pending"
    assert_error(call(catalog, "GET", f"/objects/{obj['id']}/content"), 409, "CONTENT_NOT_UPLOADED")
    assert_error(call(catalog, "GET", f"/ga4gh/drs/v1/objects/{obj['id']}"), 409, "CONTENT_NOT_UPLOADED")
    assert count(store, schema.objects) == 0 and count(store, schema.object_type_links) == 0
    assert blob_tree(settings) == ["tmp"]


def test_wrong_size_stores_nothing(catalog, store, settings):
    content = b"0123456789"
    obj = register(catalog, content)
    for data in (content[:-1], content + b"!", b"", content * 50):
        error = assert_error(upload(catalog, obj["id"], data), 422, "SIZE_MISMATCH")
        assert error["details"]["declared_size"] == len(content)
    assert listed_ids(catalog) == [] and count(store, schema.objects) == 0
    assert blob_tree(settings) == ["tmp"]


def test_over_the_limit_is_413(catalog, store, settings):
    """A declared size over the limit is refused at POST /objects; so is a Content-Length over it at upload."""
    limit = settings.max_object_bytes
    error = assert_error(call(catalog, "POST", "/objects", json=spec(b"x", size=limit + 1)), 413, "OBJECT_TOO_LARGE")
    assert error["details"]["max_bytes"] == limit
    assert count(store, schema.uploads) == 0 and listed_ids(catalog) == []
    obj = register(catalog, b"small")
    error = assert_error(upload(catalog, obj["id"], b"y" * (limit + 1)), 413, "OBJECT_TOO_LARGE")
    assert error["details"]["size"] == limit + 1
    assert call(catalog, "POST", "/objects", json=spec(b"x", size=limit)).status_code == 201  # the limit itself is fine
    assert listed_ids(catalog) == [] and blob_tree(settings) == ["tmp"]


def test_oversized_stream_without_content_length_is_refused(catalog, store, settings):
    limit = settings.max_object_bytes
    obj = register(catalog, b"\x00" * limit)  # declares exactly the limit

    def chunks():
        for _ in range(limit // 65536 + 4):  # 256 KiB more than the limit
            yield b"\x00" * 65536

    response = upload(catalog, obj["id"], chunks())
    assert response.request.headers.get("Transfer-Encoding") == "chunked"
    assert "Content-Length" not in response.request.headers
    assert response.status_code in (413, 422), response.text
    assert response.json()["code"] in ("OBJECT_TOO_LARGE", "SIZE_MISMATCH")
    assert listed_ids(catalog) == [] and count(store, schema.objects) == 0
    assert blob_tree(settings) == ["tmp"]


def test_failed_upload_can_be_retried(catalog, settings):
    content = b"retry me"
    obj = register(catalog, content)
    assert_error(upload(catalog, obj["id"], b"retry ME"), 422, "CHECKSUM_MISMATCH")
    assert_error(upload(catalog, obj["id"], b"retry"), 422, "SIZE_MISMATCH")
    response = upload(catalog, obj["id"], content)
    assert response.status_code == 200 and response.json()["status"] == "ready"
    assert call(catalog, "GET", f"/objects/{obj['id']}/content").content == content
    assert listed_ids(catalog) == [obj["id"]]
    assert blob_files(settings) == [hashlib.sha256(content).hexdigest()]


def test_same_bytes_twice_are_deduplicated(catalog, settings):
    content = b"shared bytes"
    first = catalog.create_object(content, name="one", types=["doc"])
    second = register(catalog, content, name="two")
    assert second["status"] == "ready" and second["id"] != first["id"] and second["seq"] == first["seq"] + 1
    assert second["name"] == "two"
    assert call(catalog, "GET", f"/objects/{second['id']}/content").content == content
    assert listed_ids(catalog) == [first["id"], second["id"]]
    assert blob_files(settings) == [hashlib.sha256(content).hexdigest()]
    assert len([p for p in blob_tree(settings) if not p.startswith("tmp")]) == 3  # ab/cd/<sha256>


def test_types_filter(catalog):
    for type_id in ("a", "b", "c"):
        catalog.put(f"/object_types/{type_id}", {"id": type_id, "name": type_id})
    objs = {
        name: catalog.create_object(name.encode(), name=name, types=types)
        for name, types in (
            ("only-a", ["a"]),
            ("only-b", ["b"]),
            ("only-c", ["c"]),
            ("a-and-b", ["a", "b"]),
            ("a-twice", ["a", "a"]),
            ("doc", ["doc"]),
        )
    }
    ids = {name: o["id"] for name, o in objs.items()}
    response = call(catalog, "GET", "/objects?types=a&types=b")
    assert response.status_code == 200
    assert [o["id"] for o in response.json()["items"]] == [ids[n] for n in ("only-a", "only-b", "a-and-b", "a-twice")]
    assert listed_ids(catalog, types="c") == [ids["only-c"]]
    assert listed_ids(catalog, types="unknown") == []
    assert len(listed_ids(catalog)) == 6
    # the filter pages by cursor like the unfiltered list
    page = call(catalog, "GET", "/objects", params={"types": ["a", "b"], "limit": 2}).json()
    assert [o["id"] for o in page["items"]] == [ids["only-a"], ids["only-b"]] and page["next_after_seq"] == objs[
        "only-b"
    ]["seq"]
    rest = call(
        catalog, "GET", "/objects", params={"types": ["a", "b"], "limit": 2, "after_seq": page["next_after_seq"]}
    ).json()
    assert [o["id"] for o in rest["items"]] == [ids["a-and-b"], ids["a-twice"]] and rest["next_after_seq"] is None


def test_drs_object_and_access(catalog, server):
    content = b'{"drs": true}'
    obj = catalog.create_object(content, name="x.json", types=["doc"], mime_type="application/json", description="d")
    response = call(catalog, "GET", f"/ga4gh/drs/v1/objects/{obj['id']}")
    assert response.status_code == 200
    drs = response.json()
    assert drs["id"] == obj["id"] and drs["self_uri"].startswith("drs://") and drs["self_uri"].endswith("/" + obj["id"])
    assert drs["size"] == len(content) and drs["created_time"] and drs["name"] == "x.json"
    assert drs["mime_type"] == "application/json"
    assert {"type": "sha-256", "checksum": hashlib.sha256(content).hexdigest()} in drs["checksums"]
    assert all(c["type"] != "sha256" for c in drs["checksums"])
    assert drs["access_methods"] and all(m["access_id"] and m["type"] for m in drs["access_methods"])
    access_id = drs["access_methods"][0]["access_id"]
    access = call(catalog, "GET", f"/ga4gh/drs/v1/objects/{obj['id']}/access/{access_id}")
    assert access.status_code == 200
    url = access.json()["url"]
    assert url.startswith(server)
    assert requests.get(url, timeout=30).status_code == 401  # the URL is not a bearer secret by itself
    downloaded = requests.get(url, headers={"Authorization": f"Bearer {catalog.token()}"}, timeout=30)
    assert downloaded.status_code == 200 and downloaded.content == content


def test_drs_errors(catalog):
    obj = catalog.create_object(b"drs", name="x", types=["doc"])
    for path, status, code in (
        (f"/ga4gh/drs/v1/objects/{obj['id']}/access/nope", 404, "ACCESS_ID_NOT_FOUND"),
        ("/ga4gh/drs/v1/objects/nope", 404, "OBJECT_NOT_FOUND"),
        ("/ga4gh/drs/v1/objects/nope/access/content", 404, "OBJECT_NOT_FOUND"),
    ):
        body = assert_error(call(catalog, "GET", path), status, code)
        assert body["status_code"] == status and isinstance(body["msg"], str) and body["msg"]
    unauthenticated = requests.get(catalog.base_url + f"/ga4gh/drs/v1/objects/{obj['id']}", timeout=30)
    body = assert_error(unauthenticated, 401, "MISSING_TOKEN")
    assert body["status_code"] == 401 and body["msg"]


def test_drs_service_info(server):
    response = requests.get(server + "/ga4gh/drs/v1/service-info", timeout=30)
    assert response.status_code == 200
    info = response.json()
    assert info["type"] == {"group": "org.ga4gh", "artifact": "drs", "version": "1.2.0"}
    assert info["id"] and info["name"] and info["version"] and info["organization"]["name"]
    assert info["drs"]["maxBulkRequestLength"] == 1000  # as the bulk lookup below takes


def test_drs_bulk_lookup_resolves_what_it_can_and_says_why_not_for_the_rest(catalog):
    ready = [catalog.create_object(f"bulk {i}".encode(), name=f"b{i}", types=["doc"]) for i in range(2)]
    pending = catalog.post(
        "/objects", {"name": "p", "types": ["doc"], "size": 1, "checksums": [{"type": "sha256", "checksum": "a" * 64}]}
    )
    ids = [ready[0]["id"], "no-such-object", ready[1]["id"], pending["id"], ready[0]["id"]]  # a repeat counts once
    response = call(catalog, "POST", "/ga4gh/drs/v1/objects", json={"bulk_object_ids": ids, "passports": []})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["summary"] == {"requested": 4, "resolved": 2, "unresolved": 2}
    assert [o["id"] for o in body["resolved_drs_object"]] == [ready[0]["id"], ready[1]["id"]]
    assert body["unresolved_drs_objects"] == [
        {"error_code": 404, "object_ids": ["no-such-object"]},
        {"error_code": 409, "object_ids": [pending["id"]]},
    ]
    too_many = {"bulk_object_ids": [f"id-{i}" for i in range(1001)]}
    assert_error(call(catalog, "POST", "/ga4gh/drs/v1/objects", json=too_many), 413, "BULK_TOO_LARGE")
    assert_error(call(catalog, "POST", "/ga4gh/drs/v1/objects", json={"bulk_object_ids": []}), 422, "INVALID_ARGUMENT")
    assert_error(requests.post(catalog.base_url + "/ga4gh/drs/v1/objects", json={}, timeout=30), 401, "MISSING_TOKEN")


def test_drs_access_methods_name_the_scheme_the_server_is_reached_by(catalog):
    obj = catalog.create_object(b"scheme", name="s", types=["doc"])
    plain = call(catalog, "GET", f"/ga4gh/drs/v1/objects/{obj['id']}").json()
    assert plain["access_methods"] == [{"type": "http", "access_id": "content"}]
    # behind a TLS proxy uvicorn trusts (loopback by default; --forwarded-allow-ips for others)
    proxied = call(catalog, "GET", f"/ga4gh/drs/v1/objects/{obj['id']}", headers={"X-Forwarded-Proto": "https"})
    assert proxied.json()["access_methods"] == [{"type": "https", "access_id": "content"}]


def test_concurrent_uploads_get_unique_ordered_seqs(catalog, settings):
    contents = [f"object {i} ".encode() * (1000 + i) for i in range(8)]
    token = catalog.token()
    barrier, results, errors = threading.Barrier(8), {}, []

    def work(i):
        try:
            headers = {"Authorization": f"Bearer {token}"}
            barrier.wait(10)
            obj = requests.post(
                catalog.base_url + "/objects", json=spec(contents[i], name=f"o{i}"), headers=headers, timeout=60
            )
            assert obj.status_code == 201, obj.text
            done = requests.put(
                f"{catalog.base_url}/objects/{obj.json()['id']}/content",
                data=contents[i],
                headers={**headers, "Content-Type": "application/octet-stream"},
                timeout=60,
            )
            assert done.status_code == 200, done.text
            results[i] = done.json()
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors and len(results) == 8
    seqs = sorted(o["seq"] for o in results.values())
    assert seqs == list(range(1, 9))
    page = call(catalog, "GET", "/objects", params={"after_seq": 0}).json()
    assert [o["seq"] for o in page["items"]] == seqs
    assert {o["id"] for o in page["items"]} == {o["id"] for o in results.values()}
    for i, obj in results.items():
        assert call(catalog, "GET", f"/objects/{obj['id']}/content").content == contents[i]
    assert len(blob_files(settings)) == 8


def test_dedup_checks_the_declared_size(catalog, settings):
    content = b"twelve bytes"
    catalog.create_object(content, name="one", types=["doc"])
    response = call(catalog, "POST", "/objects", json=spec(content, name="liar", size=len(content) + 100))
    if response.status_code == 201:  # it may wait for bytes that can never match, but must not be ready
        obj = response.json()
        assert obj["status"] == "pending", obj
        assert_error(upload(catalog, obj["id"], content), 422, "SIZE_MISMATCH")
    else:
        assert_error(response, 422, "SIZE_MISMATCH")
    assert all(o["size"] == len(content) for o in call(catalog, "GET", "/objects").json()["items"])
