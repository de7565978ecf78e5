"""The happy path through the API, end to end over HTTP, on both backends."""


def test_submit_claim_report(catalog, make_site):
    site = make_site("site-a", ["py"])
    obj = catalog.create_object(b'{"a": 1}', name="a.json", types=["doc"])
    assert obj["status"] == "ready" and obj["seq"] == 1
    job = catalog.create_job("wf", [obj["id"]])
    op = site.claim_job(job["id"])
    site.update_operation(op["id"], metadata={"progress": 50})
    done = site.update_operation(op["id"], done=True, result={"ok": True})
    assert done["done"] and done["metadata"] == {"progress": 50}
    assert catalog.get(f"/jobs/{job['id']}")["status"] == "succeeded"
