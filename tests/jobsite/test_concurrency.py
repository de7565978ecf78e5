"""Concurrent submits, with real threads over HTTP on both backends: one id submitted at once by many
clients makes one request and one runtime job; many requests of one new commit store it once."""

from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from orchestrator.jobsite import schema as t


def count(store, table) -> int:
    with store.read() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar()


def test_one_id_submitted_at_once_makes_one_request_and_one_job(world):
    body = {"id": "the-same-request", "workspace": "alpha-main", "requested_actions": ["report"]}
    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda _: world.call("POST", "/api/job-requests", json=body), range(8)))
    assert sorted(r.status_code for r in responses) == [200] * 7 + [201], [r.text for r in responses]
    assert {r.json()["id"] for r in responses} == {"the-same-request"}
    assert {r.json()["job_id"] for r in responses} == {"jobreq-the-same-request"}
    assert count(world.store, t.job_requests) == 1
    assert [job.id for job in world.store.list_jobs().items] == ["jobreq-the-same-request"]


def test_many_requests_of_one_new_commit_store_it_once(world):
    commit = world.repo.commit({"analysis/extra.py": "print('new')\n"})
    body = {"workspace": "alpha-main", "requested_actions": ["prepare"]}
    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda _: world.call("POST", "/api/job-requests", json=body), range(8)))
    assert [r.status_code for r in responses] == [201] * 8, [r.text for r in responses]
    assert {r.json()["commit"] for r in responses} == {commit}
    jobs = [world.store.get_job(r.json()["job_id"]) for r in responses]
    assert len({job.id for job in jobs}) == 8 and len({tuple(job.inputs) for job in jobs}) == 1
    assert count(world.store, t.study_commits) == 1
