"""The `orchestrator` command as a user runs it: a real process against a live runtime."""

import json
import os
import re
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from orchestrator.runtime.client import Credentials, RuntimeClient
from orchestrator.runtime.models import job_id_for


@pytest.fixture
def run(settings, server, tmp_path):
    def run(*args, expect=0, **env):
        full_env = {
            **os.environ,
            "ORCHESTRATOR_DATABASE_URL": settings.database_url,
            "ORCHESTRATOR_URL": server,
            "ORCHESTRATOR_HOME": str(tmp_path / "home"),
            "ORCHESTRATOR_BLOB_DIR": str(settings.blob_dir),
            **env,
        }
        proc = subprocess.run(
            [sys.executable, "-m", "orchestrator.cli", *args], env=full_env, capture_output=True, text=True, timeout=120
        )
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
    object_id = run("submit", str(study), "--type", "doc", **as_carol).stdout.splitlines()[0]
    assert catalog.get(f"/objects/{object_id}")["name"] == "study.tar.gz"
    with tarfile.open(catalog.download(object_id, tmp_path / "study.tar.gz")) as archive:
        assert sorted(archive.getnames()) == ["analysis", "analysis/a.py", "project.yaml"]  # no workspace/

    job = catalog.create_job("wf", [object_id])
    listing = run("jobs", "list", "--status", "open", **as_carol).stdout
    assert job["id"] in listing
    assert json.loads(run("jobs", "show", job["id"], "--json", **as_carol).stdout)["status"] == "open"

    site_client = RuntimeClient(server, Credentials(client_id=site["client_id"], client_secret=site["client_secret"]))
    op = site_client.claim_job(job["id"])
    assert json.loads(run("ops", "show", op["id"], "--json", **as_carol).stdout)["job_id"] == job["id"]
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
    no_database = run(
        "runtime", "create-user", "erin", expect=1, ORCHESTRATOR_DATABASE_URL="postgresql://nobody@127.0.0.1:1/x"
    )
    assert (
        no_database.stderr.startswith("error: DATABASE_UNREACHABLE")
        and "ORCHESTRATOR_DATABASE_URL" in no_database.stderr
    )
    bad_url = run("jobs", "list", expect=1, ORCHESTRATOR_URL="not-a-url", **as_dave)
    assert bad_url.stderr.startswith("error: BAD_REQUEST") and "ORCHESTRATOR_URL" in bad_url.stderr
    # an id is one path segment: `a?b` is a job that does not exist, not job `a`; `../sites` reaches no other
    # route (the server decodes %2F, so an id with a slash matches no route at all)
    assert run("jobs", "show", "a?b", expect=1, **as_dave).stderr.startswith(
        "error: JOB_NOT_FOUND: No job with id 'a?b'"
    )
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


def as_user(run, name: str) -> dict:
    user = json.loads(run("runtime", "create-user", name).stdout)
    return {"ORCHESTRATOR_USERNAME": name, "ORCHESTRATOR_PASSWORD": user["password"]}


def cli_process(settings, server, tmp_path, *args, **env) -> subprocess.Popen:
    """The command in the background, for a test that plays the site while it waits."""
    full_env = {
        **os.environ,
        "ORCHESTRATOR_DATABASE_URL": settings.database_url,
        "ORCHESTRATOR_URL": server,
        "ORCHESTRATOR_HOME": str(tmp_path / "home"),
        **env,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "orchestrator.cli", *args],
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_submit_names_the_jobs_its_triggers_make_and_warns_of_a_type_without_one(run, catalog, tmp_path):
    catalog.put("/object_types/plain", {"id": "plain", "name": "Plain"})
    (tmp_path / "f.txt").write_text("x")
    submitted = run("submit", str(tmp_path / "f.txt"), "--type", "doc", "--type", "plain", **as_user(run, "erin"))
    object_id, job_line = submitted.stdout.splitlines()
    assert job_line == f"job {job_id_for('wf', [object_id])}  workflow wf  (trigger doc-wf)"
    assert "warning: no trigger starts anything for type(s) plain" in submitted.stderr
    untriggered = run("submit", str(tmp_path / "f.txt"), "--type", "plain", "--wait", **as_user(run, "fred"))
    assert len(untriggered.stdout.splitlines()) == 1  # nothing to wait for: no job, and it says why
    assert "no trigger" in untriggered.stderr
    nobody_runs_it = run(
        "submit",
        str(tmp_path / "f.txt"),
        "--type",
        "doc",
        "--name",
        "g.txt",
        "--wait",
        "--timeout",
        "1",
        expect=1,
        **as_user(run, "gus"),
    )
    waited_for = job_id_for("wf", [nobody_runs_it.stdout.splitlines()[0]])
    assert "waiting for the site's new_objects sensor to make the job" in nobody_runs_it.stdout
    assert nobody_runs_it.stderr.startswith(f"Error: gave up after 1 s; still not ended: {waited_for}")


@pytest.mark.parametrize("outcome", ["succeeded", "failed"])
def test_submit_wait_follows_the_job_as_a_site_runs_it(run, catalog, make_site, settings, server, tmp_path, outcome):
    """The test plays the site: it makes the job as the new_objects sensor does, claims it, reports per-action
    progress and then the outcome; `submit --wait` prints each change and exits 1 if the job failed."""
    from orchestrator.sensors.new_objects import make_trigger_jobs

    site = make_site("site-w", ["py"])
    (tmp_path / "f.txt").write_text("x")
    waiting = cli_process(
        settings,
        server,
        tmp_path,
        "submit",
        str(tmp_path / "f.txt"),
        "--type",
        "doc",
        "--wait",
        "--timeout",
        "60",
        **as_user(run, "gina"),
    )
    object_id = waiting.stdout.readline().strip()
    job_id = job_id_for("wf", [object_id])
    assert make_trigger_jobs(site, object_id, site.list_triggers()) == (1, 0)
    op = site.claim_job(job_id)
    site.update_operation(
        op["id"],
        metadata={
            "step": "plan",
            "status_message": "2 actions to run",
            "actions": {"a": {"state": "pending"}, "b": {"state": "pending"}},
        },
    )
    time.sleep(1.5)  # the CLI polls once a second: let it see the plan before the run moves on
    site.update_operation(
        op["id"],
        metadata={
            "step": "execute_actions",
            "status_message": "1 action running, 1 pending",
            "actions": {"a": {"state": "running", "started_at": "2026-01-02T03:04:05Z"}, "b": {"state": "pending"}},
        },
    )
    time.sleep(1.5)
    final = {
        "a": {"state": "succeeded", "status_code": "SUCCEEDED", "finished_at": "2026-01-02T03:04:06.5Z"},
        "b": {"state": outcome, "status_code": "SUCCEEDED" if outcome == "succeeded" else "NONZERO_EXIT"},
    }
    if outcome == "succeeded":
        site.update_operation(op["id"], done=True, result={"ok": True}, metadata={"actions": final})
    else:
        site.update_operation(
            op["id"],
            done=True,
            error={"code": "ACTIONS_FAILED", "message": "1 action(s) failed: b"},
            metadata={"actions": final},
        )
    out, err = waiting.communicate(timeout=60)
    assert waiting.returncode == (0 if outcome == "succeeded" else 1), err
    assert "Traceback" not in err
    lines = [line.split("  ", 2)[2] for line in out.splitlines()[1:] if line.startswith("20")]
    assert lines[0] == "claimed (attempt 1 of 3)" or lines[0].startswith("waiting for the site"), lines
    for expected in (
        "plan: 2 actions to run",
        "execute_actions: 1 action running, 1 pending",
        "  a: running started 2026-01-02T03:04:05Z",
        "  a: succeeded SUCCEEDED 2026-01-02T03:04:06Z",
        outcome,
    ):
        assert expected in lines, (expected, lines)
    if outcome == "failed":
        assert "error ACTIONS_FAILED: 1 action(s) failed: b" in lines
    shown = run("jobs", "show", job_id, **as_user(run, "hank")).stdout
    assert f"status:    {outcome}" in shown and ("ACTIONS_FAILED" in shown) == (outcome == "failed")
    assert re.search(r"created:\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", shown)


def test_jobs_list_is_newest_first_with_a_header_filters_and_json(run, catalog, admin, tmp_path):
    admin.put("/workflows/wf2", {"id": "wf2", "name": "Other", "dagster_job": "wf2_job"})
    objects = [admin.create_object(f"{i}".encode(), name=f"{i}.txt", types=["doc"]) for i in range(3)]
    jobs = [
        admin.create_job("wf", [objects[0]["id"]]),
        admin.create_job("wf2", [objects[1]["id"]]),
        admin.create_job("wf", [objects[2]["id"]]),
    ]
    admin.post(f"/jobs/{jobs[0]['id']}:cancel")
    me = as_user(run, "ivan")
    listing = run("jobs", "list", **me).stdout.splitlines()
    assert listing[0].split() == ["CREATED", "JOB", "WORKFLOW", "STATUS", "ATTEMPTS", "INPUTS"]
    assert [line.split()[1] for line in listing[1:]] == [j["id"] for j in reversed(jobs)]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", listing[1].split()[0])
    only_wf = json.loads(run("jobs", "list", "--workflow", "wf", "--json", **me).stdout)
    assert [j["id"] for j in only_wf] == [jobs[2]["id"], jobs[0]["id"]]
    cancelled = json.loads(run("jobs", "list", "--status", "cancelled", "--json", **me).stdout)
    assert [j["id"] for j in cancelled] == [jobs[0]["id"]]
    assert [line.split()[1] for line in run("jobs", "list", "--limit", "1", **me).stdout.splitlines()[1:]] == [
        jobs[2]["id"]
    ]
    assert run("jobs", "list", "--status", "failed", **me).stdout.strip() == "no jobs matching"

    objects_listing = run("objects", "list", "--type", "doc", **me).stdout.splitlines()
    assert [line.split()[1] for line in objects_listing[1:]] == [o["id"] for o in reversed(objects)]
    shown = run("objects", "show", objects[0]["id"], **me).stdout
    assert "name:        0.txt" in shown and "types:       doc" in shown
    assert run("workflows", "list", **me).stdout.splitlines()[1].split()[:2] == ["wf", "wf_job"]


def test_backfill_makes_the_jobs_a_trigger_missed_once(run, catalog, admin, tmp_path):
    """Objects submitted before their type had a trigger get the jobs the sensor would have made; again, none."""
    admin.put("/object_types/late", {"id": "late", "name": "Late"})
    objects = [admin.create_object(f"late {i}".encode(), name=f"{i}.txt", types=["late"]) for i in range(3)]
    admin.put("/triggers/late-wf", {"id": "late-wf", "object_type_id": "late", "workflow_id": "wf", "config": {"k": 1}})
    me = as_user(run, "jane")
    first = run("triggers", "backfill", "late-wf", **me).stdout
    assert "3 job(s) created, 0 already existed" in first
    again = run("triggers", "backfill", "late-wf", **me).stdout
    assert "0 job(s) created, 3 already existed" in again
    jobs = admin.get("/jobs", workflow_id="wf")["items"]
    assert sorted(j["id"] for j in jobs) == sorted(job_id_for("wf", [o["id"]]) for o in objects)
    assert all(j["config"] == {"k": 1} for j in jobs)
    since = run("triggers", "backfill", "late-wf", "--since", str(objects[1]["seq"]), **me).stdout
    assert "0 job(s) created, 1 already existed" in since
    assert run("triggers", "backfill", "nope", expect=1, **me).stderr.startswith("error: TRIGGER_NOT_FOUND")


def test_a_runtime_that_is_down_is_named_with_how_to_start_one(run, tmp_path):
    down = run(
        "jobs",
        "list",
        expect=1,
        ORCHESTRATOR_URL="http://127.0.0.1:9",
        ORCHESTRATOR_USERNAME="x",
        ORCHESTRATOR_PASSWORD="y",
    )
    assert down.stderr.startswith("error: UNREACHABLE: no runtime answers at http://127.0.0.1:9")
    assert (
        "make run" in down.stderr and "orchestrator up" in down.stderr and "orchestrator runtime serve" in down.stderr
    )


def test_metadata_commands_read_the_store_and_check_and_submit_changesheets(run, admin, tmp_path):
    """What the README shows: after the example study's metadata is in, check and submit the example changesheet."""
    examples = Path(__file__).parent.parent / "examples" / "metadata"
    admin.put("/object_types/docset", {"id": "docset", "name": "Document set"})
    admin.put("/object_types/metadata-changesheet", {"id": "metadata-changesheet", "name": "Changesheet"})
    admin.ingest_metadata(
        admin.create_object((examples / "study.json").read_bytes(), name="s.json", types=["docset"])["id"]
    )
    me = as_user(run, "gina")
    collections = run("metadata", "collections", **me).stdout.split()
    assert collections == ["COLLECTION", "DOCUMENTS", "biosample_set", "2", "study_set", "1"]
    soil = run("metadata", "list", "biosample_set", "--where", '{"env_medium": "soil"}', **me).stdout
    assert "nmdc:bsm-11-a1" in soil and "nmdc:bsm-11-a2" not in soil
    shown = json.loads(run("metadata", "show", "study_set", "nmdc:sty-11-demo01", **me).stdout)
    assert shown["principal_investigator"]["name"] == "Ada Example"
    checked = run("metadata", "check-changesheet", str(examples / "changesheet.tsv"), **me).stdout
    assert (
        "biosample_set/nmdc:bsm-11-a1: version 1 -> 2" in checked and "valid: 3 row(s) change 2 document(s)" in checked
    )
    bad = tmp_path / "bad.tsv"
    bad.write_text("id\taction\tattribute\tvalue\nnmdc:bsm-11-a9\tupdate\tdepth_m\t1\n")
    refused = run("metadata", "submit-changesheet", str(bad), expect=1, **me)
    assert f"{bad}: line 2: nmdc:bsm-11-a9: unknown id 'nmdc:bsm-11-a9': no stored document has it" in refused.stdout
    assert admin.get("/objects", types=["metadata-changesheet"])["items"] == []
    submitted = run("metadata", "submit-changesheet", str(examples / "changesheet.tsv"), **me).stdout.splitlines()
    assert (
        submitted[1] == f"job {job_id_for('apply-changesheet-1.0.0', [submitted[0]])}  workflow apply-changesheet-1.0.0"
    )
    assert admin.get(f"/objects/{submitted[0]}")["types"] == ["metadata-changesheet"]
