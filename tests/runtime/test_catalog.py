"""The catalog over HTTP: object types, workflows and triggers are PUT by id (201 created, 200
replaced), read back by GET, and listed in cursor pages."""

import pytest
import requests

# resource -> (a new item with this id, the same item with its values changed)
RESOURCES = {
    "object_types": (
        lambda i: {"id": i, "name": f"Type {i}", "description": "first", "restricted": False},
        lambda body: {**body, "name": body["name"] + " v2", "description": "second", "restricted": True},
    ),
    "workflows": (
        lambda i: {
            "id": i,
            "name": f"Workflow {i}",
            "description": "",
            "dagster_job": "job_a",
            "capability_ids": ["py"],
        },
        lambda body: {**body, "dagster_job": "job_b", "capability_ids": ["py", "gpu"]},
    ),
    "triggers": (
        lambda i: {"id": i, "object_type_id": "doc", "workflow_id": "wf", "config": {"n": 1}},
        lambda body: {**body, "workflow_id": "wf2", "config": {"n": 2, "deep": {"x": [1, 2]}}},
    ),
}


def call(client, method, path, **kwargs) -> requests.Response:
    headers = {"Authorization": f"Bearer {client.token()}"}
    return requests.request(method, client.base_url + path, headers=headers, timeout=30, **kwargs)


def ids(client, resource, **params) -> list[str]:
    return [item["id"] for item in call(client, "GET", f"/{resource}", params=params).json()["items"]]


@pytest.fixture
def admin_catalog(catalog):
    """The shared catalog plus a second workflow, for triggers to be re-pointed at."""
    catalog.put("/workflows/wf2", {"id": "wf2", "name": "Workflow 2", "dagster_job": "wf2_job"})
    return catalog


def test_put_creates_then_replaces(admin_catalog):
    for resource, (make, change) in RESOURCES.items():
        body = make("item-1")
        created = call(admin_catalog, "PUT", f"/{resource}/item-1", json=body)
        assert created.status_code == 201, (resource, created.text)
        assert created.json() == body
        assert call(admin_catalog, "GET", f"/{resource}/item-1").json() == body
        before = ids(admin_catalog, resource)

        replacement = change(body)
        replaced = call(admin_catalog, "PUT", f"/{resource}/item-1", json=replacement)
        assert replaced.status_code == 200, (resource, replaced.text)
        assert replaced.json() == replacement
        assert call(admin_catalog, "GET", f"/{resource}/item-1").json() == replacement
        again = call(admin_catalog, "PUT", f"/{resource}/item-1", json=replacement)  # an unchanged PUT replaces too
        assert again.status_code == 200 and again.json() == replacement, resource
        items = call(admin_catalog, "GET", f"/{resource}").json()["items"]
        assert [i["id"] for i in items] == before, resource  # replaced in place: no second row, same position
        assert [i for i in items if i["id"] == "item-1"] == [replacement]
    # omitted optional fields come back with their defaults
    assert call(admin_catalog, "PUT", "/object_types/t", json={"id": "t", "name": "T"}).json() == {
        "id": "t",
        "name": "T",
        "description": "",
        "restricted": False,
    }
    assert call(admin_catalog, "GET", "/workflows/wf2").json() == {
        "id": "wf2",
        "name": "Workflow 2",
        "description": "",
        "dagster_job": "wf2_job",
        "capability_ids": [],
    }
    assert call(admin_catalog, "GET", "/triggers/doc-wf").json() == {
        "id": "doc-wf",
        "object_type_id": "doc",
        "workflow_id": "wf",
        "config": {},
    }


def test_list_pages(admin_catalog):
    for resource, (make, _) in RESOURCES.items():
        existing = ids(admin_catalog, resource)
        new = [f"page-{n}" for n in range(5)]
        for item_id in new:
            assert call(admin_catalog, "PUT", f"/{resource}/{item_id}", json=make(item_id)).status_code == 201
        everything = call(admin_catalog, "GET", f"/{resource}", params={"limit": 1000}).json()
        assert [i["id"] for i in everything["items"]] == existing + new and everything["next_after_seq"] is None
        assert everything["items"][-1] == make(new[-1])

        seen, after, pages = [], 0, 0
        while True:
            page = call(admin_catalog, "GET", f"/{resource}", params={"limit": 2, "after_seq": after}).json()
            seen += [i["id"] for i in page["items"]]
            pages += 1
            if page["next_after_seq"] is None:
                assert 1 <= len(page["items"]) <= 2
                break
            assert len(page["items"]) == 2 and page["next_after_seq"] > after, (resource, page)
            after = page["next_after_seq"]
        assert seen == existing + new and pages == -(-len(seen) // 2), resource
