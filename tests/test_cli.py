"""The `orchestrator` command as a user runs it: a real process against a live runtime."""
import json
import os
import subprocess
import sys

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
    object_id = run("submit", str(study), "--type", "doc", **as_carol).stdout.strip()
    assert catalog.get(f"/objects/{object_id}")["name"] == "study.tar.gz"

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
