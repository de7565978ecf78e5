"""The README's "add a workflow" guide, followed literally in a copy of the repository: the new
workflow is registered, triggered by a submitted object, run by a real dagster-daemon, and reported."""

from orchestrator.runtime.models import SiteCreate
from tests.site.stack import SiteDaemon, job_status, make_site_copy, register_as_admin, site_env, wait_for


def test_guide_workflow_runs_end_to_end(store, server, admin, tmp_path):
    repo = make_site_copy(tmp_path / "repo")
    store.create_site(SiteCreate(id="guide-site"))
    creds = store.generate_credentials("guide-site").model_dump()
    env = site_env(repo, tmp_path / "dagster", server, "guide-site", creds)
    register_as_admin(repo, env, admin)
    assert admin.get("/triggers/note")["workflow_id"] == "echo-1.0.0"

    daemon = SiteDaemon(repo, env, tmp_path / "daemon.log").start()
    try:
        note = admin.create_object(b"remember the milk", name="todo.txt", types=["note"])
        job_id = wait_for(
            lambda: next(
                (j["id"] for j in admin.get("/jobs", workflow_id="echo-1.0.0")["items"] if note["id"] in j["inputs"]),
                None,
            ),
            90,
            "the trigger to create the job",
            on_timeout=daemon.output,
        )
        wait_for(lambda: job_status(admin, job_id) == "succeeded", 120, "the job to succeed", on_timeout=daemon.output)
        op = admin.get(f"/operations/{admin.get(f'/jobs/{job_id}')['operation_id']}")
        assert op["result"] == {"echo": ["todo.txt"]}
        assert op["metadata"]["dagster_run_id"]
    finally:
        daemon.stop()
