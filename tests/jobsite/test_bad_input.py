"""Bad input to the jobs site's API: every reply to anything a client can send is a 2xx or a 4xx with the
JSON error body, never a 5xx; and a refused request changes no table."""

import re

import requests
from sqlalchemy import select

from orchestrator.jobsite import schema as t
from tests.jobsite.releases import record, release_body
from tests.runtime.test_bad_input import FUZZ_BODIES
from tests.utils.api import JSON, assert_error, is_error_body


def jobsite_rows(store) -> dict:
    with store.read() as conn:
        return {
            table.name: [tuple(row) for row in conn.execute(select(table).order_by(*table.primary_key.columns))]
            for table in t.metadata.sorted_tables
        }


def test_fuzz_every_jobsite_route_never_5xx(world):
    request_id = world.call(
        "POST", "/api/job-requests", json={"workspace": "alpha-main", "requested_actions": ["prepare"]}
    ).json()["id"]
    release = record(world, release_body(world, {"output/table.csv": b"a,b\n1,2\n"})).json()
    draft = world.call("POST", "/api/workspaces/alpha-main/publications", as_="developer").json()
    real = {
        "slug": "alpha",
        "name": "alpha-main",
        "username": "developer",
        "request_id": request_id,
        "file_id": str(release["files"][0]["id"]),
        "publication_id": draft["id"],
    }
    spec = requests.get(world.url + "/openapi.json", timeout=30).json()
    paths = {path: ops for path, ops in spec["paths"].items() if path.startswith("/api/")}
    assert len(paths) >= 10
    problems, sent = [], 0
    with requests.Session() as session:
        for template, operations in paths.items():
            real_path = re.sub(r"\{(\w+)\}", lambda m: real[m.group(1)], template)
            unknown_path = re.sub(r"\{(\w+)\}", "fuzz", template)
            for method in operations:
                for as_ in ("developer", "admin", "anonymous", "site-a"):
                    token = world.tokens[as_]
                    attempts = [(real_path, body, headers) for body, headers in FUZZ_BODIES]
                    attempts += [(unknown_path, body, headers) for body, headers in FUZZ_BODIES[1:4]]
                    for path, body, headers in attempts:
                        headers = {**headers, **({"Authorization": f"Bearer {token}"} if token else {})}
                        response = session.request(
                            method.upper(), world.url + path, data=body, headers=headers, timeout=60
                        )
                        sent += 1
                        where = f"{as_} {method.upper()} {path} {body[:12]!r}"
                        if response.status_code >= 500:
                            problems.append(f"{where}: {response.status_code} {response.text[:120]}")
                        elif response.status_code >= 400 and not is_error_body(response):
                            problems.append(
                                f"{where}: {response.status_code} without an error body: {response.text[:120]}"
                            )
    assert sent > 300
    assert not problems, "\n".join(problems)


def test_refused_job_requests_change_nothing(world):
    before = jobsite_rows(world.store)
    jobs_before = world.store.list_jobs().items
    cases = [
        ({"workspace": "alpha-main", "requested_actions": ["x"] * 1001}, 422),
        ({"workspace": "alpha-main", "requested_actions": ["a" * 201]}, 422),
        ({"workspace": "alpha-main", "requested_actions": ["prepare"], "id": "short"}, 422),
        ({"workspace": "alpha-main", "requested_actions": ["prepare"], "id": "has space in it"}, 422),
        ({"workspace": "../etc", "requested_actions": ["prepare"]}, 422),
        ({"workspace": "alpha-main", "requested_actions": "prepare"}, 422),
        ({"workspace": "alpha-main", "requested_actions": ["prepare"], "force_run_dependencies": "yes please"}, 422),
        ({"workspace": "alpha-main", "requested_actions": ["prepare"], "surprise": 1}, 422),
        ({"workspace": "alpha-main", "requested_actions": ["../../etc/passwd"]}, 422),
    ]
    for body, status in cases:
        assert_error(world.call("POST", "/api/job-requests", json=body), status)
    assert_error(world.call("POST", "/api/job-requests", data=b'{"workspace": ', headers=JSON), 400, "MALFORMED_JSON")
    assert_error(world.call("POST", "/api/job-requests", data=b'{"workspace": "a\\u0000b"}', headers=JSON), 422)
    assert jobsite_rows(world.store) == before
    assert world.store.list_jobs().items == jobs_before


def test_every_jobsite_error_is_documented_with_the_error_schema(world):
    spec = requests.get(world.url + "/openapi.json", timeout=30).json()
    error_ref = {"$ref": "#/components/schemas/Error"}
    documented = {}
    for path, operations in spec["paths"].items():
        if not path.startswith("/api/"):
            continue
        for method, operation in operations.items():
            statuses = {int(s) for s in operation["responses"] if s[0] in "45"}
            documented[(method.upper(), path)] = statuses
            for status in statuses:
                assert operation["responses"][str(status)]["content"]["application/json"]["schema"] == error_ref
            assert {401, 422, 503} <= statuses, (method, path, statuses)  # a bad token is 401 even on public reads
            if method.upper() != "GET":
                assert {400, 403, 413} <= statuses, (method, path, statuses)
    assert documented[("POST", "/api/projects")] == {400, 401, 403, 409, 413, 422, 503}
    assert documented[("POST", "/api/job-requests")] == {400, 401, 403, 404, 409, 413, 422, 503}
    assert documented[("GET", "/api/projects/{slug}")] == {401, 404, 409, 422, 503}
