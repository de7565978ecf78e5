"""Invariant 1: a claim is atomic. Of many concurrent claims on an open job (threads and processes,
over HTTP against the live server) exactly one gets an operation (201), the others 409; 403/404 rules."""

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

from orchestrator.runtime.client import RuntimeClient, RuntimeClientError
from tests.utils.api import expect_error

REPO_ROOT = Path(__file__).resolve().parents[2]
CLAIMERS = 16


def claimers(make_site, sites: int, per_site: int) -> list[RuntimeClient]:
    """`sites` sites with capability `py`, each with `per_site` independent clients (own session, own token)."""
    clients = []
    for i in range(sites):
        first = make_site(f"site-{i}", ["py"])
        clients.append(first)
        clients += [RuntimeClient(first.base_url, first.credentials, max_retries=1) for _ in range(per_site - 1)]
    for client in clients:
        client.token()  # fetch tokens up front so the claims themselves race
    return clients


def assert_one_winner(admin, job_id: str, outcomes: list) -> dict:
    """`outcomes` are claim results (an operation dict or a RuntimeClientError): exactly one winner."""
    won = [o for o in outcomes if isinstance(o, dict)]
    lost = [o for o in outcomes if not isinstance(o, dict)]
    assert len(won) == 1, f"job {job_id}: {len(won)} claims won: {won}"
    assert all(isinstance(e, RuntimeClientError) and (e.status, e.code) == (409, "JOB_NOT_OPEN") for e in lost), lost
    op = won[0]
    assert op["job_id"] == job_id and not op["done"]
    ops = admin.get("/operations", job_id=job_id)["items"]
    assert [o["id"] for o in ops] == [op["id"]], "a job must have exactly one operation after a claim race"
    job = admin.get(f"/jobs/{job_id}")
    assert (job["status"], job["operation_id"], job["attempts"]) == ("claimed", op["id"], 0)
    return op


def test_concurrent_claims_threads_exactly_one_winner(catalog, make_site):
    clients = claimers(make_site, sites=4, per_site=4)
    assert len(clients) == CLAIMERS
    obj = catalog.create_object(b"race", name="race.txt", types=["doc"])
    jobs = [catalog.create_job("wf", [obj["id"]], config={"n": i}, id=f"race-{i}")["id"] for i in range(16)]
    outcomes = {job_id: [None] * CLAIMERS for job_id in jobs}
    barrier = threading.Barrier(CLAIMERS)

    def claim_each(index: int, client: RuntimeClient) -> None:
        for job_id in jobs:
            barrier.wait(timeout=30)  # all 16 fire at the same job together
            try:
                outcomes[job_id][index] = client.claim_job(job_id)
            except RuntimeClientError as exc:
                outcomes[job_id][index] = exc

    threads = [threading.Thread(target=claim_each, args=(i, c)) for i, c in enumerate(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(t.is_alive() for t in threads)
    winners = [assert_one_winner(catalog, job_id, outcomes[job_id]) for job_id in jobs]
    assert len({op["id"] for op in winners}) == len(jobs)


CHILD = r"""
import json, sys, threading, time
from orchestrator.runtime.client import Credentials, RuntimeClient, RuntimeClientError

cfg = json.loads(sys.argv[1])
clients = [RuntimeClient(cfg["url"], Credentials(**cfg["credentials"]), max_retries=1) for _ in range(cfg["threads"])]
for client in clients:
    client.token()
print("ready", flush=True)
start_at = float(sys.stdin.readline())
results, lock = [], threading.Lock()

def run(client):
    for i, job_id in enumerate(cfg["jobs"]):
        delay = start_at + i * cfg["step"] - time.time()  # a wall-clock barrier shared by all processes
        if delay > 0:
            time.sleep(delay)
        try:
            out = [job_id, 201, client.claim_job(job_id)["id"]]
        except RuntimeClientError as exc:
            out = [job_id, exc.status, exc.code]
        with lock:
            results.append(out)

threads = [threading.Thread(target=run, args=(c,)) for c in clients]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps(results), flush=True)
"""


def test_concurrent_claims_processes_exactly_one_winner(catalog, make_site):
    sites = [make_site("proc-a", ["py"]), make_site("proc-b", ["py"])]
    obj = catalog.create_object(b"procs", name="procs.txt", types=["doc"])
    jobs = [catalog.create_job("wf", [obj["id"]], id=f"proc-race-{i}")["id"] for i in range(8)]
    processes, threads_each = 4, 4
    children = []
    for p in range(processes):
        creds = sites[p % 2].credentials
        cfg = {
            "url": catalog.base_url,
            "jobs": jobs,
            "threads": threads_each,
            "step": 0.1,
            "credentials": {"client_id": creds.client_id, "client_secret": creds.client_secret},
        }
        children.append(
            subprocess.Popen(
                [sys.executable, "-c", CHILD, json.dumps(cfg)],
                cwd=REPO_ROOT,
                text=True,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        )
    try:
        for child in children:
            assert child.stdout.readline().strip() == "ready", child.stderr.read()
        start_at = time.time() + 0.3
        for child in children:
            child.stdin.write(f"{start_at}\n")
            child.stdin.flush()
        results = []
        for child in children:
            out, err = child.communicate(timeout=60)
            assert child.returncode == 0, err
            results += json.loads(out.strip().splitlines()[-1])
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
    assert len(results) == processes * threads_each * len(jobs)
    for job_id in jobs:
        mine = [r for r in results if r[0] == job_id]
        winners = [r for r in mine if r[1] == 201]
        assert len(winners) == 1, f"job {job_id}: {len(winners)} winners across processes"
        assert all(r[1:] == [409, "JOB_NOT_OPEN"] for r in mine if r[1] != 201), mine
        ops = catalog.get("/operations", job_id=job_id)["items"]
        assert [o["id"] for o in ops] == [winners[0][2]]
        assert catalog.get(f"/jobs/{job_id}")["operation_id"] == winners[0][2]


def test_claim_of_claimed_or_finished_job_is_409(catalog, make_site):
    site_a, site_b = make_site("site-a", ["py"]), make_site("site-b", ["py"])
    job = catalog.create_job("wf", [], id="j1")
    op = site_a.claim_job(job["id"])
    expect_error(409, "JOB_NOT_OPEN", site_b.claim_job, job["id"])
    expect_error(409, "JOB_NOT_OPEN", site_a.claim_job, job["id"])  # the holder cannot claim twice either
    site_a.update_operation(op["id"], done=True, result={"ok": True})
    expect_error(409, "JOB_NOT_OPEN", site_b.claim_job, job["id"])
    assert len(catalog.get("/operations", job_id=job["id"])["items"]) == 1


def test_claim_refused_without_capability_site_token_or_job(catalog, make_site):
    catalog.put(
        "/workflows/wf2", {"id": "wf2", "name": "Two caps", "dagster_job": "j", "capability_ids": ["py", "gpu"]}
    )
    no_caps, py_only, both = make_site("bare"), make_site("py-only", ["py"]), make_site("both", ["gpu", "py", "extra"])
    job = catalog.create_job("wf", [], id="needs-py")
    job2 = catalog.create_job("wf2", [], id="needs-py-gpu")
    assert expect_error(403, "MISSING_CAPABILITY", no_caps.claim_job, job["id"]).details == {"missing": ["py"]}
    assert expect_error(403, "MISSING_CAPABILITY", py_only.claim_job, job2["id"]).details == {"missing": ["gpu"]}
    expect_error(403, "SITE_ONLY", catalog.claim_job, job["id"])  # a user (even an admin) is not a site
    anonymous = requests.post(f"{catalog.base_url}/jobs/{job['id']}:claim", timeout=30)
    assert (anonymous.status_code, anonymous.json()["code"]) == (401, "MISSING_TOKEN")
    assert expect_error(404, "JOB_NOT_FOUND", py_only.claim_job, "no-such-job").details == {"id": "no-such-job"}
    for job_id in (job["id"], job2["id"]):  # a refused claim leaves no trace
        assert catalog.get(f"/jobs/{job_id}")["status"] == "open"
        assert catalog.get("/operations", job_id=job_id)["items"] == []
    assert both.claim_job(job2["id"])["site_id"] == "both"  # a superset of the capabilities is enough
    assert py_only.claim_job(job["id"])["site_id"] == "py-only"


def test_concurrent_claim_next_claims_every_job_exactly_once(catalog, make_site):
    """16 claimers (threads, 4 sites) each ask for the next 3 jobs until none is left: every job is claimed
    once, by exactly one operation, and no claimer ever gets an error."""
    clients = claimers(make_site, sites=4, per_site=4)
    obj = catalog.create_object(b"queue", name="queue.txt", types=["doc"])
    jobs = {catalog.create_job("wf", [obj["id"]], config={"n": i}, id=f"next-{i:02d}")["id"] for i in range(60)}
    got: list[list[dict]] = [[] for _ in clients]
    errors = []
    barrier = threading.Barrier(len(clients))

    def drain(index: int, client: RuntimeClient) -> None:
        barrier.wait()
        try:
            while ops := client.claim_next("wf", max_jobs=3):
                got[index].extend(ops)
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=drain, args=(i, c)) for i, c in enumerate(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    claimed = [op["job_id"] for ops in got for op in ops]
    assert sorted(claimed) == sorted(jobs), "every job claimed exactly once"
    assert sum(1 for ops in got if ops) > 1, "the work was shared"
    ops = list(catalog.iterate("/operations"))
    assert len(ops) == len(jobs) and {o["job_id"] for o in ops} == jobs
    for op in ops:
        assert catalog.get(f"/jobs/{op['job_id']}")["operation_id"] == op["id"]


def test_claim_next_rules(catalog, make_site):
    site, weak = make_site("site-a", ["py"]), make_site("site-b", [])
    assert site.claim_next("wf") == []  # nothing open: an empty list, not an error
    first, second = (catalog.create_job("wf", [], id=f"rule-{i}")["id"] for i in range(2))
    expect_error(403, "MISSING_CAPABILITY", weak.claim_next, "wf")
    expect_error(404, "WORKFLOW_NOT_FOUND", site.claim_next, "no-such-workflow")
    expect_error(403, "SITE_ONLY", catalog.post, "/jobs:claimNext", {"workflow_id": "wf"})
    for bad in (
        {"workflow_id": "wf", "max_jobs": 0},
        {"workflow_id": "wf", "max_jobs": 101},
        {"workflow_id": "wf", "claim_token": "x"},
    ):
        expect_error(422, "INVALID_ARGUMENT", site.post, "/jobs:claimNext", bad)
    assert [catalog.get(f"/jobs/{j}")["status"] for j in (first, second)] == ["open", "open"]
    # the same idempotency key again returns what it claimed, and claims nothing more
    body = {"workflow_id": "wf", "max_jobs": 1, "claim_token": "retry-key-1", "lease_seconds": 30}
    (op,) = site.post("/jobs:claimNext", body)["operations"]
    assert op["job_id"] == first and op["lease_seconds"] == 30
    assert site.post("/jobs:claimNext", body)["operations"] == [op]
    assert catalog.get(f"/jobs/{second}")["status"] == "open"
    (other,) = site.post("/jobs:claimNext", {**body, "claim_token": "retry-key-2"})["operations"]
    assert other["job_id"] == second
