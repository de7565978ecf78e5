"""Fixtures of the runtime's HTTP tests (the backends, server and clients come from tests/conftest.py)."""

import pytest


@pytest.fixture
def world(catalog, make_site, store):
    """catalog + site-a (py), a ready object, an open job on it and a claimed job with its operation."""
    site = make_site("site-a", ["py"])
    obj = catalog.create_object(b"hello", name="hello.txt", types=["doc"])
    open_job = catalog.create_job("wf", [obj["id"]])
    claimed = catalog.create_job("wf", config={"n": 2})
    op = site.claim_job(claimed["id"])
    return {"admin": catalog, "site": site, "object": obj, "open_job": open_job, "claimed_job": claimed, "op": op}
