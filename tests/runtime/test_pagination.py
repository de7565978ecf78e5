"""Invariant 5: every list endpoint pages by cursor (after_seq, limit) and returns each item once in
seq order; the SQL behind a page is bounded by `seq >` and LIMIT and uses an index, never a history scan."""

import math
import re

import pytest
from sqlalchemy import insert

from orchestrator.runtime import schema as s
from orchestrator.runtime.client import RuntimeClientError
from orchestrator.runtime.models import SiteCreate
from orchestrator.runtime.schema import utcnow
from tests.utils.sql import analyze, captured_sql, is_postgres, plan_of

N = 7  # items of each kind; pages of 3 leave a partial last page


@pytest.fixture
def populated(catalog, make_site, store):
    """N of everything (plus 3 extra open jobs); returns {path: ids in creation order}."""
    site = make_site("site-0", ["py"])
    for i in range(1, N):
        catalog.put(f"/object_types/t{i}", {"id": f"t{i}", "name": f"T{i}"})
        catalog.put(f"/workflows/w{i}", {"id": f"w{i}", "name": f"W{i}", "dagster_job": "j"})
        catalog.put(f"/triggers/tr{i}", {"id": f"tr{i}", "object_type_id": f"t{i}", "workflow_id": f"w{i}"})
        store.create_site(SiteCreate(id=f"site-{i}"))
    objects = [
        catalog.create_object(f"obj {i}".encode(), name=f"o{i}", types=["doc", "t1"] if i % 2 else ["doc"])["id"]
        for i in range(N)
    ]
    jobs = [catalog.create_job("wf", [], id=f"job-{i}")["id"] for i in range(N + 3)]
    operations = [site.claim_job(job_id)["id"] for job_id in jobs[:N]]
    return {
        "/objects": objects,
        "/jobs": jobs,
        "/operations": operations,
        "/object_types": ["doc"] + [f"t{i}" for i in range(1, N)],
        "/workflows": ["wf"] + [f"w{i}" for i in range(1, N)],
        "/triggers": ["doc-wf"] + [f"tr{i}" for i in range(1, N)],
        "/sites": [f"site-{i}" for i in range(N)],
    }


def walk(client, path: str, limit: int, **params) -> list[dict]:
    pages, after = [], 0
    while True:
        page = client.get(path, after_seq=after, limit=limit, **params)
        pages.append(page)
        if page["next_after_seq"] is None:
            return pages
        assert page["next_after_seq"] > after and len(pages) < 100
        after = page["next_after_seq"]


def check_paging(client, path: str, expected: list[str], **params) -> None:
    n = len(expected)
    full = client.get(path, limit=1000, **params)
    assert [item["id"] for item in full["items"]] == expected and full["next_after_seq"] is None, (path, params)
    has_seq = "seq" in full["items"][0]
    if has_seq:
        seqs = [item["seq"] for item in full["items"]]
        assert seqs == sorted(set(seqs)), f"{path}: items must come in strictly increasing seq order"
    for limit in sorted({1, 2, 3, n - 1, n, n + 1} - {0}):
        pages = walk(client, path, limit, **params)
        ids = [item["id"] for page in pages for item in page["items"]]
        assert ids == expected, f"{path} limit={limit}: items lost, repeated or out of order"
        assert len(pages) == math.ceil(n / limit), f"{path} limit={limit}: no empty last page, no early stop"
        assert all(len(page["items"]) == limit for page in pages[:-1]) and 0 < len(pages[-1]["items"]) <= limit
        if has_seq:
            assert all(page["next_after_seq"] == page["items"][-1]["seq"] for page in pages[:-1])
    assert [item["id"] for item in client.iterate(path, page_size=2, **params)] == expected, (path, params)
    if has_seq:  # a cursor in the middle returns exactly what follows it
        middle = full["items"][n // 2]["seq"]
        assert [i["id"] for i in client.get(path, after_seq=middle, limit=1000, **params)["items"]] == expected[
            n // 2 + 1 :
        ]
        assert client.get(path, after_seq=full["items"][-1]["seq"], **params) == {
            "items": [],
            "next_after_seq": None,
            "next_before_seq": None,
        }


def test_every_list_endpoint_pages_by_cursor(catalog, populated):
    for path, expected in populated.items():
        check_paging(catalog, path, expected)
        for bad in ({"limit": 1001}, {"limit": 0}, {"after_seq": -1}):
            with pytest.raises(RuntimeClientError) as info:
                catalog.get(path, **bad)
            assert (info.value.status, info.value.code) == (422, "INVALID_ARGUMENT"), (path, bad)
    assert set(populated) == {"/objects", "/jobs", "/operations", "/object_types", "/workflows", "/triggers", "/sites"}


def test_filtered_lists_page_by_cursor(catalog, populated):
    jobs, objects, ops = populated["/jobs"], populated["/objects"], populated["/operations"]
    check_paging(catalog, "/jobs", jobs[N:], status="open")
    check_paging(catalog, "/jobs", jobs[:N], status="claimed", workflow_id="wf")
    check_paging(catalog, "/objects", objects[1::2], types=["t1"])
    check_paging(catalog, "/objects", objects, types=["doc", "t1"])  # an object with both types comes once
    check_paging(catalog, "/operations", ops, site_id="site-0", done=False)
    check_paging(catalog, "/operations", ops[3:4], job_id=populated["/jobs"][3])
    check_paging(catalog, "/triggers", ["doc-wf", "tr1", "tr2", "tr3", "tr4", "tr5", "tr6"])
    assert catalog.get("/jobs", status="succeeded") == {"items": [], "next_after_seq": None, "next_before_seq": None}


def page_queries(statements, table: str) -> list[tuple[str, object]]:
    """The list query of a request: a SELECT from `table` ordered by seq (auth lookups and the lease sweeper are not)."""
    from_table = re.compile(rf"\bFROM {table}\b")
    return [
        (sql, params)
        for sql, params in statements
        if sql.lstrip().upper().startswith("SELECT") and from_table.search(sql) and "ORDER BY" in sql
    ]


LIST_TABLES = {
    "/objects": "objects",
    "/jobs": "jobs",
    "/operations": "operations",
    "/object_types": "object_types",
    "/workflows": "workflows",
    "/triggers": "triggers",
    "/sites": "sites",
}


def test_list_queries_are_bounded_by_cursor_and_limit(catalog, populated, store):
    requests_ = [(path, table, {}) for path, table in LIST_TABLES.items()] + [
        ("/jobs", "jobs", {"status": "open", "workflow_id": "wf"}),
        ("/operations", "operations", {"site_id": "site-0", "done": False}),
        ("/objects", "object_type_links", {"types": ["t1"]}),
    ]
    for path, table, params in requests_:
        with captured_sql(store.reader) as statements:
            catalog.get(path, after_seq=2, limit=2, **params)
        queries = page_queries(statements, table)
        assert len(queries) == 1, (path, params, statements)
        sql = queries[0][0]
        assert re.search(rf"\b{table}\.(object_)?seq > ", sql), f"{path} {params}: no cursor condition in\n{sql}"
        assert re.search(r"\bLIMIT\b", sql), f"{path} {params}: no LIMIT in\n{sql}"
        if table == "object_type_links":  # the objects themselves are then fetched by their seqs only
            fetch = page_queries(statements, "objects")
            assert len(fetch) == 1 and re.search(r"\bobjects\.seq IN\b", fetch[0][0]), fetch


@pytest.fixture
def history(catalog, store):
    """2,000 jobs (bulk-i has seq i + 1): every 20th is open, alternately of `wf` and `wf-other`, so `wf`'s open
    jobs are bulk-0, bulk-40, ...; the rest are finished. Statistics are refreshed."""
    catalog.put("/workflows/wf-other", {"id": "wf-other", "name": "Other", "dagster_job": "j"})
    now = utcnow()
    rows = [
        {
            "id": f"bulk-{i}",
            "workflow_id": "wf" if i // 20 % 2 == 0 else "wf-other",
            "inputs": [],
            "config": {},
            "status": "open" if i % 20 == 0 else "succeeded",
            "attempts": 0,
            "max_attempts": 3,
            "operation_id": None,
            "created_by": "user:admin",
            "created_at": now,
            "updated_at": now,
        }
        for i in range(2000)
    ]
    with store.write() as conn:
        conn.execute(insert(s.jobs), rows)
    analyze(store, "jobs")


def test_open_jobs_page_uses_an_index(catalog, store, history):
    """A page of open jobs of one workflow, deep in 2,000 jobs of history, is an index range scan, not a table scan."""
    with captured_sql(store.reader) as statements:
        page = catalog.get("/jobs", status="open", workflow_id="wf", after_seq=1000, limit=20)
    assert [job["id"] for job in page["items"]] == [f"bulk-{i}" for i in range(1000, 1800, 40)]
    ((sql, params),) = page_queries(statements, "jobs")
    plan = plan_of(store, sql, params)
    # the index must answer the filters (an Index Cond on them), not merely walk seq order and filter rows
    if is_postgres(store):
        assert "Seq Scan on jobs" not in plan, plan
        assert re.search(r"Index Cond: .*status.*workflow_id.*seq > ", plan), plan
    else:
        assert not re.search(r"\bSCAN jobs\b", plan), plan
        assert re.search(
            r"SEARCH jobs USING (COVERING )?INDEX \w+ \(status=\? AND workflow_id=\? AND seq>\?\)", plan
        ), plan


def walk_newest_first(client, path: str, limit: int, **params) -> list[dict]:
    pages, before = [], 2**63 - 1
    while True:
        page = client.get(path, before_seq=before, limit=limit, **params)
        pages.append(page)
        assert page["next_after_seq"] is None
        if page["next_before_seq"] is None:
            return pages
        assert page["next_before_seq"] < before and len(pages) < 100
        before = page["next_before_seq"]


@pytest.mark.parametrize(
    ("path", "params", "pick"),
    [
        ("/jobs", {}, lambda p: p["/jobs"]),
        ("/jobs", {"status": "open"}, lambda p: p["/jobs"][N:]),
        ("/objects", {}, lambda p: p["/objects"]),
        ("/objects", {"types": ["t1"]}, lambda p: p["/objects"][1::2]),
        ("/objects", {"types": ["doc", "t1"]}, lambda p: p["/objects"]),
    ],
)
def test_jobs_and_objects_page_newest_first_below_a_cursor(catalog, populated, path, params, pick):
    """What a person listing "the latest" asks for: one page below before_seq, no walk through history."""
    expected = list(reversed(pick(populated)))
    for limit in (1, 2, 3, len(expected), len(expected) + 1):
        pages = walk_newest_first(catalog, path, limit, **params)
        assert [item["id"] for page in pages for item in page["items"]] == expected, (path, params, limit)
        assert len(pages) == math.ceil(len(expected) / limit)
    newest = catalog.get(path, before_seq=2**63 - 1, limit=2, **params)
    below = catalog.get(path, before_seq=newest["items"][-1]["seq"], after_seq=0, limit=1000, **params)
    assert [item["id"] for item in below["items"]] == expected[2:]


def test_newest_first_reads_one_page_not_the_history(catalog, populated, store):
    for path, table, params in (("/jobs", "jobs", {}), ("/objects", "object_type_links", {"types": ["t1"]})):
        with captured_sql(store.reader) as statements:
            page = catalog.get(path, before_seq=2**63 - 1, limit=2, **params)
        assert len(page["items"]) == 2
        ((sql, _),) = page_queries(statements, table)
        assert re.search(rf"\b{table}\.(object_)?seq < ", sql) and re.search(r"\bDESC\b", sql), sql
        assert re.search(r"\bLIMIT\b", sql), sql
