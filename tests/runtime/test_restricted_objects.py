"""Restricted object types: their objects are made, listed and read (also through DRS) only by admins
and sites; to everyone else they do not exist. Other types stay open to anyone logged in."""

import hashlib

import pytest

from orchestrator.runtime.client import Credentials, RuntimeClient, RuntimeClientError
from tests.runtime.test_objects import call, register, upload


@pytest.fixture
def people(store, server, catalog):
    catalog.put("/object_types/secret", {"id": "secret", "name": "Released output", "restricted": True})
    store.create_user("researcher", "researcher-password")
    return RuntimeClient(server, Credentials(username="researcher", password="researcher-password"), max_retries=1)


def test_only_admins_and_sites_see_objects_of_a_restricted_type(people, catalog, make_site):
    site = make_site("site-a")
    data = b"released table\n"
    made = register(site, data, types=["secret"])
    assert upload(site, made["id"], data).status_code == 200
    open_one = register(people, b"open", types=["doc"])
    upload(people, open_one["id"], b"open")
    assert catalog.get("/object_types/secret")["restricted"] is True

    for client in (site, catalog):
        assert call(client, "GET", f"/objects/{made['id']}").json()["id"] == made["id"]
        assert call(client, "GET", f"/objects/{made['id']}/content").content == data
        assert made["id"] in [o["id"] for o in client.get("/objects")["items"]]
        assert call(client, "GET", f"/ga4gh/drs/v1/objects/{made['id']}").status_code == 200

    for path in (f"/objects/{made['id']}", f"/objects/{made['id']}/content", f"/ga4gh/drs/v1/objects/{made['id']}"):
        response = call(people, "GET", path)
        assert response.status_code == 404 and response.json()["code"] == "OBJECT_NOT_FOUND", (path, response.text)
    for query in ({}, {"types": "secret"}, {"types": ["secret", "doc"]}, {"before_seq": 2**62}):
        listed = [o["id"] for o in people.get("/objects", **query)["items"]]
        assert made["id"] not in listed, query
        assert (open_one["id"] in listed) == (query.get("types") != "secret"), query


def test_a_person_may_not_make_an_object_of_a_restricted_type(people):
    data = b"pretend it was released"
    with pytest.raises(RuntimeClientError) as refused:
        people.post(
            "/objects",
            {
                "name": "x.csv",
                "types": ["secret"],
                "size": len(data),
                "checksums": [{"type": "sha256", "checksum": hashlib.sha256(data).hexdigest()}],
            },
        )
    assert (refused.value.status, refused.value.code) == (403, "RESTRICTED_OBJECT_TYPE")


def test_naming_the_sha256_of_restricted_bytes_gets_a_person_nothing(people, make_site):
    site = make_site("site-a")
    data = b"a released table, its sha256 public on the jobs site\n"
    made = register(site, data, types=["secret"])
    upload(site, made["id"], data)
    claimed = register(people, data, types=["doc"])  # the same sha256 and size, as a person
    assert claimed["status"] == "pending"  # not ready at once: the bytes must come from the person
    refused = call(people, "GET", f"/objects/{claimed['id']}/content")
    assert refused.status_code == 409 and refused.json()["code"] == "CONTENT_NOT_UPLOADED"
    wrong_size = register(people, data, types=["doc"], size=len(data) + 1)  # and the stored size stays unsaid
    assert wrong_size["status"] == "pending"
    assert upload(people, claimed["id"], data).status_code == 200  # having the bytes, they may store them
    assert call(people, "GET", f"/objects/{claimed['id']}/content").content == data


def test_pages_of_a_type_stay_full_around_hidden_objects_and_pending_ones_are_hidden_too(people, make_site):
    site = make_site("site-a")
    open_ids = []
    for i in range(3):
        hidden = register(site, f"hidden {i}".encode(), types=["secret", "doc"])
        upload(site, hidden["id"], f"hidden {i}".encode())
        shown = register(people, f"open {i}".encode(), types=["doc"])
        upload(people, shown["id"], f"open {i}".encode())
        open_ids.append(shown["id"])
    seen, after = [], 0
    while True:
        page = people.get("/objects", types="doc", limit=1, after_seq=after)
        seen += [o["id"] for o in page["items"]]
        if page["next_after_seq"] is None:
            break
        after = page["next_after_seq"]
    assert seen == open_ids
    pending = register(site, b"not sent yet", types=["secret"])
    assert pending["status"] == "pending"
    assert call(people, "GET", f"/objects/{pending['id']}").status_code == 404
    assert call(site, "GET", f"/objects/{pending['id']}").status_code == 200
