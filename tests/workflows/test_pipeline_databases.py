"""The database a job request names, at the site: two real PostgreSQL databases ("full" with 100
patients, "sample" with 20) mapped by ORCHESTRATOR_DATABASES; a database action run through the
pipeline Dagster job in two workspaces reads its own one; a non-database action gets no DATABASE_URL,
not even the site's own; an unmapped database fails the job before anything runs."""

import json
import secrets
import sys

import dagster as dg
import pytest
from sqlalchemy import text

from orchestrator.resources import PipelineResource, pipeline_from_settings
from orchestrator.runtime.db import make_admin_engine
from orchestrator.settings import Settings
from orchestrator.workflows.pipeline import JobRequest, config_problem
from tests.conftest import POSTGRES_URL, REPO_ROOT, _with_database
from tests.workflows.pipeline_support import run_study, study_archive

FAKE_EHRQL = REPO_ROOT / "tests" / "utils" / "fake_ehrql.py"
SITE_OWN_URL = "postgresql://site:site-password@127.0.0.1:1/site_own"

PROJECT = """\
version: '4.0'
actions:
  dataset:
    run: ehrql:v1 generate-dataset analysis/dataset_definition.py --output output/dataset.csv
    outputs: {highly_sensitive: {dataset: output/dataset.csv}}
  environment:
    run: python:v2 analysis/environment.py
    outputs: {highly_sensitive: {environment: output/environment.json}}
"""
ENVIRONMENT = """\
import json, os, pathlib
pathlib.Path("output").mkdir(exist_ok=True)
pathlib.Path("output/environment.json").write_text(json.dumps({"DATABASE_URL": os.environ.get("DATABASE_URL")}))
"""


@pytest.fixture
def patient_databases(postgres_template):  # postgres_template: a missing server fails the run, never skips
    """{"full": url, "sample": url}: two new databases with a `patients` table of 100 and 20 rows."""
    admin = make_admin_engine(POSTGRES_URL)
    urls = {}
    for name, patients in (("full", 100), ("sample", 20)):
        database = f"orch_{name}_{secrets.token_hex(4)}"
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{database}"'))
        urls[name] = _with_database(POSTGRES_URL, database)
        engine = make_admin_engine(urls[name])
        with engine.connect() as connection:
            connection.execute(text("CREATE TABLE patients (patient_id integer PRIMARY KEY)"))
            connection.execute(text("INSERT INTO patients SELECT generate_series(1, :n)"), {"n": patients})
        engine.dispose()
    yield urls
    with admin.connect() as connection:
        for url in urls.values():
            connection.execute(text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def database_study(tmp_path) -> bytes:
    study = tmp_path / "db-study"
    (study / "analysis").mkdir(parents=True)
    (study / "project.yaml").write_text(PROJECT)
    (study / "analysis" / "dataset_definition.py").write_text("# what ehrql would read\n")
    (study / "analysis" / "environment.py").write_text(ENVIRONMENT)
    return study_archive(tmp_path, study)


@pytest.fixture
def site_settings(tmp_path, monkeypatch):
    """The site's pipeline resource as its Definitions build it: from Settings, the databases an EnvVar.
    The site's own environment has a DATABASE_URL, which no action may see."""
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("DATABASE_URL", SITE_OWN_URL)
    monkeypatch.setenv("ORCHESTRATOR_WORKSPACES_DIR", str(tmp_path / "workspaces"))
    monkeypatch.setenv("ORCHESTRATOR_IMAGE_MAP", json.dumps({"ehrql": [sys.executable, str(FAKE_EHRQL)]}))

    def resource(databases: dict) -> PipelineResource:
        monkeypatch.setenv("ORCHESTRATOR_DATABASES", json.dumps(databases))
        pipeline = pipeline_from_settings(Settings())
        assert isinstance(pipeline.databases, dg.EnvVar)  # the Dagster UI shows its name, never the URLs
        return pipeline

    return resource


def workspace_file(tmp_path, workspace: str, path: str) -> str:
    return (tmp_path / "workspaces" / workspace / path).read_text()


def test_each_workspace_reads_the_database_its_request_names(
    instance, site, registered, tmp_path, patient_databases, database_study, site_settings
):
    pipeline = site_settings(patient_databases)
    for workspace, database, patients in (("w-full", "full", 100), ("w-sample", "sample", 20)):
        result, job, op = run_study(
            instance,
            site,
            registered,
            database_study,
            tmp_path,
            pipeline,
            workspace=workspace,
            database=database,
            job_request_id=f"jr-{database}",
        )
        assert result.success, op["error"]
        assert job["status"] == "succeeded"
        assert {name: a["status_code"] for name, a in op["result"]["actions"].items()} == {
            "dataset": "SUCCEEDED",
            "environment": "SUCCEEDED",
        }
        assert workspace_file(tmp_path, workspace, "output/dataset.csv") == f"patients\n{patients}\n"
        assert json.loads(workspace_file(tmp_path, workspace, "output/environment.json")) == {"DATABASE_URL": None}
        # no URL (or password) reaches the runtime, the workspace's logs or the Dagster event log
        urls = (*patient_databases.values(), SITE_OWN_URL)
        logs = workspace_file(tmp_path, workspace, "metadata/dataset.log")
        events = " ".join(str(e.user_message) for e in instance.all_logs(result.run_id))
        assert not any(url in json.dumps([job, op]) + logs + events for url in urls)
        assert "site-password" not in logs + events


def test_an_unknown_database_fails_the_job_before_anything_runs_unless_it_needs_none(
    instance, site, registered, tmp_path, patient_databases, database_study, site_settings
):
    pipeline = site_settings(patient_databases)
    result, job, op = run_study(instance, site, registered, database_study, tmp_path, pipeline, database="slice")
    assert job["status"] == "failed"
    error = op["error"]
    assert error["code"] == "UNKNOWN_DATABASE"
    assert error["details"] == {"database": "slice", "site_databases": ["full", "sample"], "actions": ["dataset"]}
    assert "need database 'slice'" in error["message"] and "its databases: full, sample" in error["message"]
    assert "ORCHESTRATOR_DATABASES=" in error["message"]
    [failure] = [e.dagster_event for e in instance.all_logs(result.run_id, of_type=dg.DagsterEventType.STEP_FAILURE)]
    assert failure.step_key == "plan_study"
    assert not (tmp_path / "workspaces" / "w1" / "metadata" / "manifest.json").exists()  # nothing ran

    # a request whose actions touch no database needs no mapping: not even one the site has
    result, job, op = run_study(
        instance, site, registered, database_study, tmp_path, pipeline, database="slice", actions=["environment"]
    )
    assert result.success and job["status"] == "succeeded", op["error"]

    # a site whose map is unusable says so, as for its image map
    broken = PipelineResource(workspaces_dir=str(tmp_path / "workspaces"), databases='{"full": ')
    _, job, op = run_study(instance, site, registered, database_study, tmp_path, broken, actions=["dataset"])
    assert op["error"]["code"] == "SITE_MISCONFIGURED" and "ORCHESTRATOR_DATABASES" in op["error"]["message"]


def test_the_job_request_takes_a_database_and_a_job_request_id_and_old_configs_still_work():
    old = JobRequest.model_validate({"workspace": "default", "actions": ["run_all"]})  # triggers/study.yaml
    assert (old.database, old.job_request_id) == ("full", None)
    new = JobRequest.model_validate(
        {
            "workspace": "w",
            "actions": ["a"],
            "force_run_dependencies": True,
            "database": "sample",
            "job_request_id": "42",
            "cancelled_actions": [],
        }
    )
    assert (new.database, new.job_request_id) == ("sample", "42")
    assert "database" in config_problem({"database": "../full"})
    assert "job_request_id" in config_problem({"job_request_id": ""})
