"""End to end: a job request made with the CLI runs its action and the action's dependency at a real
site (dagster-daemon), the request shows each job's state as it goes, and ends succeeded; a second
request reuses the dependency. SQLite only: a daemon costs seconds of CPU per run."""

import json
import subprocess
import sys
import time

import pytest
import requests

from orchestrator.runtime.client import Credentials, RuntimeClient
from tests.jobsite.repos import QUICK_STUDY
from tests.site.stack import SiteDaemon, make_site_copy, register_as_admin, site_env, wait_for

ON_SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

SLOW_REPORT = {
    **QUICK_STUDY,
    "project.yaml": """\
        version: '4.0'
        actions:
          prepare:
            run: python:v2 analysis/write.py output/prepared.csv
            outputs:
              highly_sensitive:
                data: output/prepared.csv
          report:
            run: python:v2 analysis/slow.py output/report.csv
            needs: [prepare]
            outputs:
              moderately_sensitive:
                report: output/report.csv
        """,
    "analysis/slow.py": """\
        import pathlib, sys, time
        time.sleep(3)  # long enough for the request to be seen running
        path = pathlib.Path(sys.argv[1])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("total\\n1\\n")
        """,
}


def cli(world, tmp_path, *args, timeout=300):
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "ORCHESTRATOR_HOME": str(tmp_path / "cli-home"),
        "ORCHESTRATOR_URL": world.url,
        "ORCHESTRATOR_USERNAME": "developer",
        "ORCHESTRATOR_PASSWORD": world.passwords["developer"],
    }
    return subprocess.Popen(
        [sys.executable, "-m", "orchestrator.cli", *args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def site(world, tmp_path):
    repo = make_site_copy(tmp_path / "site", with_echo_workflow=False)
    creds = world.store.generate_credentials("site-a").model_dump()
    env = site_env(
        repo, tmp_path / "dagster", world.url, "site-a", creds, ORCHESTRATOR_WORKSPACES_DIR=str(tmp_path / "workspaces")
    )
    admin = RuntimeClient(world.url, Credentials(username="admin", password=world.passwords["admin"]), max_retries=1)
    register_as_admin(repo, env, admin)
    daemon = SiteDaemon(repo, env, tmp_path / "daemon.log").start()
    yield daemon
    daemon.stop()


@ON_SQLITE
@pytest.mark.timeout(600)
def test_a_job_request_from_the_cli_runs_at_the_site_job_by_job(world, site, tmp_path):
    world.repo.commit(SLOW_REPORT, "a slower report")
    started = time.monotonic()
    submit = cli(world, tmp_path, "requests", "submit", "alpha-main", "report", "--wait", "--timeout", "400")
    # Follow it as a page would: every state each job went through.
    seen: dict[str, list[str]] = {}
    request_id = None

    def follow():
        nonlocal request_id
        page = requests.get(world.url + "/api/job-requests", params={"workspace": "alpha-main"}, timeout=30).json()
        if not page["items"]:
            return False
        request_id = page["items"][0]["id"]
        request = requests.get(f"{world.url}/api/job-requests/{request_id}", timeout=30).json()
        for job in request["jobs"]:
            states = seen.setdefault(job["action"], [])
            if not states or states[-1] != job["state"]:
                states.append(job["state"])
        return request["status"] in ("succeeded", "failed", "cancelled", "nothing_to_do") and request

    final = wait_for(follow, 400, "the job request to end", every=0.3, on_timeout=site.output)
    out, err = submit.communicate(timeout=60)
    print(f"[jobsite e2e] first request: {time.monotonic() - started:.1f} s", flush=True)
    assert submit.returncode == 0, (out, err, site.output())
    assert final["status"] == "succeeded", (final, site.output())
    assert [job["action"] for job in final["jobs"]] == ["prepare", "report"]
    for job in final["jobs"]:
        assert job["state"] == "succeeded" and job["status_code"] == "SUCCEEDED" and job["log_exists"], job
        assert job["started_at"] and job["finished_at"] and job["started_at"] <= job["finished_at"]
    assert "running" in seen["report"] and seen["report"][-1] == "succeeded", seen
    assert f"job request {request_id}" in out and "report: succeeded (SUCCEEDED)" in out and "prepare" in out
    assert (tmp_path / "workspaces" / "alpha-main" / "output" / "report.csv").read_text() == "total\n1\n"

    show = cli(world, tmp_path, "requests", "show", request_id)
    out, err = show.communicate(timeout=60)
    assert show.returncode == 0, err
    assert "ACTION" in out and "STATE" in out and "prepare" in out and "report" in out and "SUCCEEDED" in out

    # Again: the dependency's outputs exist, so only the requested action runs.
    again = cli(world, tmp_path, "requests", "submit", "alpha-main", "report", "--wait", "--json", "--timeout", "400")
    out, err = again.communicate(timeout=420)
    assert again.returncode == 0, (out, err, site.output())
    second = json.loads(out)
    assert second["status"] == "succeeded" and [job["action"] for job in second["jobs"]] == ["report"], second
