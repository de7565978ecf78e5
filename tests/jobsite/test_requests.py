"""Job requests: pinned to the branch's commit, the commit archived once, project.yaml checked before
anything is made, exactly one runtime job only the workspace's site may claim; then its jobs, status,
emails and cancellation as the site reports (here the test plays the site through the runtime store)."""

import io
import tarfile
from datetime import timedelta

from sqlalchemy import func, select

from orchestrator.jobsite import schema as t
from orchestrator.jobsite.store.requests import STUDY_COMMIT_TYPE, job_id_of
from orchestrator.runtime import schema as rt
from orchestrator.runtime.models import ErrorInfo, OperationPatch, Principal
from orchestrator.runtime.schema import utcnow
from orchestrator.workflows.triggers import load_triggers
from tests.utils.api import assert_error

SITE_A, SITE_B = Principal(kind="site", id="site-a"), Principal(kind="site", id="site-b")


def submit(world, as_="developer", **body):
    body = {"workspace": "alpha-main", "requested_actions": ["report"], **body}
    return world.call("POST", "/api/job-requests", as_=as_, json=body)


def count(store, table) -> int:
    with store.read() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar()


def test_a_request_pins_the_commit_and_makes_one_job_for_the_workspaces_site(world):
    response = submit(world, id="first-request", force_run_dependencies=True)
    assert response.status_code == 201, response.text
    request = response.json()
    assert request["commit"] == world.repo.head() and len(request["commit"]) == 40
    assert request["status"] == "pending" and request["site_id"] == "site-a" and request["database"] == "full"
    assert request["created_by"] == "developer" and request["jobs"] == []
    job = world.store.get_job(request["job_id"])
    assert job.id == job_id_of("first-request") and job.workflow_id == "pipeline-1.0.0" and job.site_id == "site-a"
    assert job.share == "alpha-main"  # the workspace is the job's fair share at its site
    assert job.config == {
        "workspace": "alpha-main",
        "actions": ["report"],
        "force_run_dependencies": True,
        "database": "full",
        "job_request_id": "first-request",
    }
    # the study object is the commit's tree, of a type no trigger starts anything for
    (object_id,) = job.inputs
    obj = world.store.get_object(object_id)
    assert obj.types == [STUDY_COMMIT_TYPE] and obj.status == "ready"
    assert STUDY_COMMIT_TYPE not in {trigger.object_type_id for trigger in load_triggers().triggers}
    with tarfile.open(fileobj=io.BytesIO(world.store.blob_path_of(obj).read_bytes()), mode="r:gz") as archive:
        assert {"project.yaml", "analysis/write.py"} <= set(archive.getnames())
    # a retried submit (same id) returns the same request; nothing new is made
    again = submit(world, id="first-request", force_run_dependencies=True)
    assert again.status_code == 200 and again.json()["id"] == "first-request"
    assert_error(submit(world, id="first-request", requested_actions=["prepare"]), 409, "ALREADY_EXISTS")
    # another request of the same commit reuses the stored study; a new commit makes a new one
    second = submit(world).json()
    assert world.store.get_job(second["job_id"]).inputs == [object_id]
    world.repo.commit({"notes.md": "changed"})
    third = submit(world).json()
    assert third["commit"] == world.repo.head() != request["commit"]
    assert world.store.get_job(third["job_id"]).inputs != [object_id]
    assert count(world.store, t.study_commits) == 2
    # only site-a may claim them
    assert world.store.claim_next("pipeline-1.0.0", SITE_B, max_jobs=10) == []
    assert {op.job_id for op in world.store.claim_next("pipeline-1.0.0", SITE_A, max_jobs=10)} == {
        request["job_id"],
        second["job_id"],
        third["job_id"],
    }


def test_every_problem_is_refused_before_anything_is_made(world):
    jobs_before = world.store.list_jobs().items
    world.repo.commit(
        {
            "project.yaml": """\
            version: '4.0'
            actions:
              a:
                run: python:v2 analysis/write.py
                needs: [missing]
                outputs:
                  moderately_sensitive:
                    out: ../outside.csv
            """
        }
    )
    body = assert_error(submit(world, requested_actions=["a"]), 422, "INVALID_PROJECT")
    assert len(body["details"]["problems"]) >= 2, body
    assert {p["action"] for p in body["details"]["problems"]} == {"a"}
    world.repo.commit(
        {
            "project.yaml": "version: '4.0'\nactions:\n  a:\n    run: python:v2 analysis/write.py out.csv\n    outputs:\n      highly_sensitive:\n        out: out.csv\n"
        }
    )
    body = assert_error(submit(world, requested_actions=["a", "nope", "neither"]), 422, "UNKNOWN_ACTIONS")
    assert body["details"]["unknown"] == ["nope", "neither"] and "run_all" in body["details"]["valid"]
    assert_error(submit(world, workspace="no-such-workspace"), 404, "WORKSPACE_NOT_FOUND")
    assert_error(submit(world, requested_actions=[]), 422)
    assert world.store.list_jobs().items == jobs_before
    assert count(world.store, t.job_requests) == 0 and count(world.store, t.study_commits) == 0


def test_git_failures_and_archived_workspaces_are_clear_client_errors(world, tmp_path):
    def workspace(name, repo, branch="main"):
        body = {"name": name, "repo": repo, "branch": branch, "site_id": "site-a"}
        assert world.call("POST", "/api/projects/alpha/workspaces", json=body).status_code == 201

    workspace("no-branch", world.repo.url, branch="does-not-exist")
    workspace("no-repo", str(tmp_path / "nothing-here.git"))
    body = assert_error(submit(world, workspace="no-branch"), 422, "UNKNOWN_BRANCH")
    assert "does-not-exist" in body["message"] and "main" in body["message"]
    assert_error(submit(world, workspace="no-repo"), 422, "REPO_UNREACHABLE")
    world.call("PATCH", "/api/workspaces/alpha-main", json={"archived": True})
    assert_error(submit(world), 409, "WORKSPACE_ARCHIVED")
    assert count(world.store, t.job_requests) == 0


def _report(store, op_id, actions, **final):
    return store.update_operation(op_id, SITE_A, OperationPatch(metadata={"actions": actions}, **final))


def _emails(store) -> list:
    with store.read() as conn:
        return conn.execute(select(t.outbox).order_by(t.outbox.c.seq)).all()


def test_jobs_status_and_emails_follow_what_the_site_reports(world):
    request = submit(world, requested_actions=["report"], will_notify=True).json()
    (op,) = world.store.claim_next("pipeline-1.0.0", SITE_A)
    # the plan: prepare is a dependency that runs, report runs; an action reused is not a job
    _report(
        world.store,
        op.id,
        {
            "prepare": {"state": "pending", "decision": "run"},
            "report": {"state": "pending", "decision": "run"},
            "old": {"state": "pending", "decision": "reuse"},
        },
    )
    seen = world.call("GET", f"/api/job-requests/{request['id']}", as_="anonymous").json()
    assert seen["status"] == "pending" and [j["action"] for j in seen["jobs"]] == ["prepare", "report"]
    assert {j["state"] for j in seen["jobs"]} == {"pending"} and not any(j["log_exists"] for j in seen["jobs"])
    started = {"state": "running", "decision": "run", "started_at": "2026-12-04T10:00:00Z"}
    _report(world.store, op.id, {"prepare": started})
    seen = world.call("GET", f"/api/job-requests/{request['id']}", as_="anonymous").json()
    assert seen["status"] == "running" and seen["jobs"][0]["state"] == "running"
    assert seen["jobs"][0]["status_code"] == "EXECUTING" and seen["jobs"][0]["started_at"] == "2026-12-04T10:00:00Z"
    done = {
        "state": "succeeded",
        "decision": "run",
        "status_code": "SUCCEEDED",
        "status_message": "Completed successfully",
        "started_at": "2026-12-04T10:00:00Z",
        "finished_at": "2026-12-04T10:00:05Z",
    }
    _report(world.store, op.id, {"prepare": done})
    assert len(_emails(world.store)) == 1
    _report(world.store, op.id, {"prepare": done})  # the same state again tells nobody twice
    assert len(_emails(world.store)) == 1
    _report(
        world.store, op.id, {"report": {**done, "finished_at": "2026-12-04T10:00:09Z"}}, done=True, result={"ok": True}
    )
    seen = world.call("GET", f"/api/job-requests/{request['id']}", as_="anonymous").json()
    assert seen["status"] == "succeeded" and all(j["log_exists"] and j["state"] == "succeeded" for j in seen["jobs"])
    emails = _emails(world.store)
    assert [e.recipient for e in emails] == ["developer@example.org"] * 2
    assert "prepare" in emails[0].subject and "SUCCEEDED" in emails[0].body and request["id"] in emails[0].body
    assert "report" in emails[1].subject and len({e.message_id for e in emails}) == 2


def test_a_request_refused_at_the_site_fails_and_says_why(world):
    request = submit(world, will_notify=True).json()
    (op,) = world.store.claim_next("pipeline-1.0.0", SITE_A)
    world.store.update_operation(
        op.id,
        SITE_A,
        OperationPatch(done=True, error=ErrorInfo(code="INVALID_PROJECT", message="2 problem(s) in project.yaml")),
    )
    seen = world.call("GET", f"/api/job-requests/{request['id']}").json()
    assert seen["status"] == "failed" and "2 problem(s)" in seen["status_message"]
    (email,) = _emails(world.store)
    assert "failed" in email.subject and "2 problem(s)" in email.body


def test_requests_without_notification_send_nothing(world):
    submit(world, will_notify=False)
    (op,) = world.store.claim_next("pipeline-1.0.0", SITE_A)
    _report(
        world.store,
        op.id,
        {"report": {"state": "failed", "decision": "run", "status_code": "NONZERO_EXIT"}},
        done=True,
        error=ErrorInfo(code="ACTIONS_FAILED", message="1 action(s) failed"),
    )
    assert _emails(world.store) == []


def test_cancelling_a_request_or_some_of_its_actions(world):
    open_request = submit(world).json()
    cancelled = world.call("POST", f"/api/job-requests/{open_request['id']}:cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert world.store.get_job(open_request["job_id"]).status == "cancelled"
    assert_error(world.call("POST", f"/api/job-requests/{open_request['id']}:cancel"), 409, "REQUEST_FINISHED")

    running = submit(world, requested_actions=["run_all"]).json()
    (op,) = world.store.claim_next("pipeline-1.0.0", SITE_A)
    partly = world.call("POST", f"/api/job-requests/{running['id']}:cancel", json={"actions": ["report"]})
    assert partly.status_code == 200, partly.text
    assert partly.json()["cancelled_actions"] == ["report"] and partly.json()["status"] == "pending"
    assert world.store.get_job(running["job_id"]).cancelled_parts == ["report"]
    whole = world.call("POST", f"/api/job-requests/{running['id']}:cancel", json={})
    assert whole.status_code == 200
    assert world.store.get_operation(op.id).cancel_requested


def test_a_request_whose_site_lost_its_lease_waits_again(world):
    request = submit(world).json()
    (op,) = world.store.claim_next("pipeline-1.0.0", SITE_A, lease_seconds=1)
    _report(world.store, op.id, {"report": {"state": "running", "decision": "run", "order": 0}})
    assert world.call("GET", f"/api/job-requests/{request['id']}").json()["status"] == "running"
    with world.store.write() as conn:  # the lease ran out long ago
        conn.execute(
            rt.operations.update()
            .where(rt.operations.c.id == op.id)
            .values(lease_expires_at=utcnow() - timedelta(hours=1))
        )
    assert world.store.expire_leases() == 1
    seen = world.call("GET", f"/api/job-requests/{request['id']}").json()
    assert seen["status"] == "pending" and "attempt 2" in seen["status_message"]
    assert [(j["action"], j["state"]) for j in seen["jobs"]] == [("report", "pending")]
