"""The `orchestrator` command as a user runs it: a real process against a live runtime."""
import json
import os
import subprocess
import sys
import tarfile

import pytest

from orchestrator.runtime.client import Credentials, RuntimeClient


@pytest.fixture
def run(settings, server, tmp_path):
    def run(*args, expect=0, **env):
        full_env = {**os.environ, "ORCHESTRATOR_DATABASE_URL": settings.database_url, "ORCHESTRATOR_URL": server,
                    "ORCHESTRATOR_HOME": str(tmp_path / "home"), "ORCHESTRATOR_BLOB_DIR": str(settings.blob_dir), **env}
        proc = subprocess.run([sys.executable, "-m", "orchestrator.cli", *args], env=full_env, capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == expect, proc.stderr
        assert "Traceback" not in proc.stderr
        return proc

    return run


def test_admin_and_client_commands(run, catalog, server, tmp_path):
    site = json.loads(run("runtime", "create-site", "site-x", "--capability", "py").stdout)
    assert set(site) == {"site_id", "client_id", "client_secret"}
    user = json.loads(run("runtime", "create-user", "carol").stdout)
    as_carol = {"ORCHESTRATOR_USERNAME": "carol", "ORCHESTRATOR_PASSWORD": user["password"]}

    study = tmp_path / "study"
    (study / "analysis").mkdir(parents=True)
    (study / "project.yaml").write_text("version: '4.0'\n")
    (study / "analysis" / "a.py").write_text("print(1)\n")
    (study / "workspace" / "output").mkdir(parents=True)  # what a local `orchestrator run` leaves behind
    (study / "workspace" / "output" / "dataset.csv").write_text("patient_id\n1\n")
    object_id = run("submit", str(study), "--type", "doc", **as_carol).stdout.strip()
    assert catalog.get(f"/objects/{object_id}")["name"] == "study.tar.gz"
    with tarfile.open(catalog.download(object_id, tmp_path / "study.tar.gz")) as archive:
        assert sorted(archive.getnames()) == ["analysis", "analysis/a.py", "project.yaml"]  # no workspace/

    job = catalog.create_job("wf", [object_id])
    listing = run("jobs", "list", "--status", "open", **as_carol).stdout
    assert job["id"] in listing
    assert json.loads(run("jobs", "show", job["id"], **as_carol).stdout)["status"] == "open"

    site_client = RuntimeClient(server, Credentials(client_id=site["client_id"], client_secret=site["client_secret"]))
    op = site_client.claim_job(job["id"])
    assert json.loads(run("ops", "show", op["id"], **as_carol).stdout)["job_id"] == job["id"]
    cancelled = json.loads(run("jobs", "cancel", job["id"], **as_carol).stdout)
    assert cancelled["status"] == "claimed" and site_client.get(f"/operations/{op['id']}")["cancel_requested"]


def test_user_mistakes_are_one_line_errors(run, catalog, tmp_path):
    user = json.loads(run("runtime", "create-user", "dave").stdout)
    as_dave = {"ORCHESTRATOR_USERNAME": "dave", "ORCHESTRATOR_PASSWORD": user["password"]}
    missing = run("jobs", "show", "job-nope", expect=1, **as_dave)
    assert missing.stderr.startswith("error: JOB_NOT_FOUND")
    (tmp_path / "f.txt").write_text("x")
    unknown_type = run("submit", str(tmp_path / "f.txt"), "--type", "nope", expect=1, **as_dave)
    assert "UNKNOWN_OBJECT_TYPE" in unknown_type.stderr
    wrong_password = run("jobs", "list", expect=1, ORCHESTRATOR_USERNAME="dave", ORCHESTRATOR_PASSWORD="wrong")
    assert "INVALID_CREDENTIALS" in wrong_password.stderr
    duplicate = run("runtime", "create-site", "site-y", expect=0)
    assert json.loads(duplicate.stdout)["site_id"] == "site-y"
    again = run("runtime", "create-site", "site-y", expect=1)
    assert again.stderr.startswith("error: ALREADY_EXISTS")
    bad_id = run("runtime", "create-site", "no spaces", expect=1)
    assert bad_id.stderr.startswith("error: INVALID_ARGUMENT: id: String should match pattern")
    assert run("runtime", "create-user", "", expect=1).stderr.startswith("error: INVALID_ARGUMENT: User name ''")
    no_database = run("runtime", "create-user", "erin", expect=1, ORCHESTRATOR_DATABASE_URL="postgresql://nobody@127.0.0.1:1/x")
    assert no_database.stderr.startswith("error: DATABASE_UNREACHABLE") and "ORCHESTRATOR_DATABASE_URL" in no_database.stderr
    bad_url = run("jobs", "list", expect=1, ORCHESTRATOR_URL="not-a-url", **as_dave)
    assert bad_url.stderr.startswith("error: BAD_REQUEST") and "ORCHESTRATOR_URL" in bad_url.stderr
    # an id is one path segment: `a?b` is a job that does not exist, not job `a`; `../sites` reaches no other
    # route (the server decodes %2F, so an id with a slash matches no route at all)
    assert run("jobs", "show", "a?b", expect=1, **as_dave).stderr.startswith("error: JOB_NOT_FOUND: No job with id 'a?b'")
    for odd in ("../sites", "a/b"):
        shown = run("jobs", "show", odd, expect=1, **as_dave)
        assert shown.stdout == "" and shown.stderr.startswith("error: NOT_FOUND"), odd


def test_jobs_retry_opens_a_failed_job_again(run, catalog, make_site):
    user = json.loads(run("runtime", "create-user", "frank").stdout)
    as_frank = {"ORCHESTRATOR_USERNAME": "frank", "ORCHESTRATOR_PASSWORD": user["password"]}
    site = make_site("site-r", ["py"])
    job = catalog.create_job("wf", [], id="cli-retry", max_attempts=1)
    site.claim_job(job["id"])
    site.post(f"/jobs/{job['id']}:release")
    retried = json.loads(run("jobs", "retry", job["id"], **as_frank).stdout)
    assert (retried["status"], retried["attempts"]) == ("open", 0)
    again = run("jobs", "retry", job["id"], expect=1, **as_frank)
    assert again.stderr.startswith("error: JOB_NOT_RETRYABLE: Job 'cli-retry' is open")
