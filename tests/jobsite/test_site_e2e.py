"""End to end: a job request made with the CLI runs its action and the action's dependency at a real
site (dagster-daemon), the request shows each job's state as it goes, and ends succeeded; a second
request reuses the dependency; the moderately_sensitive output then goes through the site's airlock
(single-use token, two checkers) to a publication anyone downloads with the same sha256. SQLite only: a daemon costs seconds of CPU per run."""

import hashlib
import json
import subprocess
import sys
import time

import pytest
import requests

from orchestrator.airlock.app import create_app as create_airlock_app
from orchestrator.airlock.service import Airlock
from orchestrator.runtime.client import Credentials, RuntimeClient
from tests.conftest import LiveServer
from tests.jobsite.releases import second_checker
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
    repo = make_site_copy(tmp_path / "site", guide=None)
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

    # On to the airlock: the moderately_sensitive report, viewed by the developer who logged in with a
    # single-use token, released by two checkers, drafted, published and read by anyone, same sha256.
    level4 = tmp_path / "workspaces" / "alpha-main" / "level4" / "output" / "report.csv"
    assert level4.read_text() == "total\n1\n"
    _through_the_airlock(world, tmp_path, level4.read_bytes())


def _through_the_airlock(world, tmp_path, report: bytes):
    second_checker(world)
    creds = world.store.generate_credentials("site-a")
    settings = world.store.settings.model_copy(
        update={
            "url": world.url,
            "site_id": "site-a",
            "client_id": creds.client_id,
            "client_secret": creds.client_secret,
            "workspaces_dir": tmp_path / "workspaces",
            "airlock_dir": tmp_path / "airlock",
            "airlock_database_url": f"sqlite:///{tmp_path / 'airlock.db'}",
        }
    )
    service = Airlock.open(settings)
    with LiveServer(world.store, create_airlock_app(service)) as url:

        def as_(username):
            token = world.jobsite.create_login_token(world.actor(username)).token
            login = requests.post(url + "/api/login", json={"username": username, "token": token}, timeout=30)
            assert login.status_code == 200, login.text
            return {"Authorization": f"Bearer {login.json()['session']}"}

        developer, checkers = as_("developer"), [as_("checker"), as_("checker2")]
        shown = requests.get(url + "/api/workspaces/alpha-main/files/output/report.csv", headers=developer, timeout=30)
        assert shown.json()["table"] == {"header": ["total"], "rows": [["1"]]}, shown.text
        asked = requests.post(
            url + "/api/release-requests",
            json={"workspace": "alpha-main", "files": [{"path": "output/report.csv", "reason": "the total"}]},
            headers=developer,
            timeout=30,
        ).json()
        for checker in checkers:
            review = {"path": "output/report.csv", "decision": "approve", "comment": "no small numbers"}
            requests.post(f"{url}/api/release-requests/{asked['id']}/reviews", json=review, headers=checker, timeout=30)
        released = requests.post(f"{url}/api/release-requests/{asked['id']}:release", headers=checkers[0], timeout=60)
        assert released.status_code == 200 and released.json()["status"] == "released", released.text
    service.db.dispose()

    draft = world.call("POST", "/api/workspaces/alpha-main/publications", as_="developer").json()
    assert world.call("POST", f"/api/publications/{draft['id']}:publish", as_="publisher").status_code == 200
    public = requests.get(f"{world.url}/api/publications/{draft['id']}", timeout=30).json()
    (file,) = public["files"]
    anyone = requests.get(f"{world.url}/api/released-files/{file['id']}/content", timeout=30)
    assert anyone.content == report
    assert hashlib.sha256(anyone.content).hexdigest() == file["sha256"] == anyone.headers["X-Content-SHA256"]
