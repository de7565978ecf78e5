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
