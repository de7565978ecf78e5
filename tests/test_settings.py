"""One Settings object: ORCHESTRATOR_* variables, a `.env` file in the working directory beneath them,
and every local path derived from ORCHESTRATOR_HOME unless set on its own."""

import json
import os
from pathlib import Path

import dagster as dg
import pytest

from orchestrator.resources import pipeline_from_settings
from orchestrator.settings import Settings
from orchestrator.up import stack_env


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    for name in [n for n in os.environ if n.startswith("ORCHESTRATOR_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def test_paths_follow_home_unless_set(clean_env, tmp_path):
    clean_env.setenv("ORCHESTRATOR_HOME", "state")
    settings = Settings()
    assert settings.home == tmp_path / "state"
    assert settings.database_url == f"sqlite:///{tmp_path / 'state' / 'runtime.db'}"
    assert (settings.blob_dir, settings.workspaces_dir) == (
        tmp_path / "state" / "blobs",
        tmp_path / "state" / "workspaces",
    )
    clean_env.setenv("ORCHESTRATOR_BLOB_DIR", "/srv/blobs")
    assert Settings().blob_dir == Path("/srv/blobs")


def test_a_dot_env_file_is_read_and_the_environment_wins(clean_env, tmp_path):
    (tmp_path / ".env").write_text(
        "ORCHESTRATOR_MAX_RUNS_PER_WORKFLOW=7\nORCHESTRATOR_SITE_ID=from-file\nLOGLEVEL=DEBUG\n"
    )
    clean_env.setenv("ORCHESTRATOR_SITE_ID", "from-env")
    settings = Settings()
    assert (settings.max_runs_per_workflow, settings.site_id) == (7, "from-env")


def test_an_empty_variable_means_the_default(clean_env):
    clean_env.setenv("ORCHESTRATOR_LEASE_SECONDS", "")
    clean_env.setenv("ORCHESTRATOR_DATABASE_URL", "")
    settings = Settings()
    assert settings.lease_seconds == 60 and settings.database_url.startswith("sqlite:///")


def test_a_bad_value_names_the_variable(clean_env):
    clean_env.setenv("ORCHESTRATOR_MAX_RUNS_PER_WORKFLOW", "many")
    with pytest.raises(ValueError, match="max_runs_per_workflow"):
        Settings()


def test_databases_are_json_and_a_bad_one_is_named_without_its_url(clean_env):
    assert Settings().databases == {}
    clean_env.setenv("ORCHESTRATOR_DATABASES", '{"full": "postgresql://u:pw@db/full", "sample": "postgresql://db/s"}')
    assert Settings().databases == {"full": "postgresql://u:pw@db/full", "sample": "postgresql://db/s"}
    clean_env.setenv("ORCHESTRATOR_DATABASES", '{"full db": "postgresql://u:pw@db/full"}')
    with pytest.raises(ValueError, match="databases") as error:
        Settings()
    assert "'full db'" in str(error.value) and "pw@db" not in str(error.value)


def test_the_pipeline_resource_reads_databases_from_an_env_var_the_dagster_ui_shows_by_name(clean_env):
    assert pipeline_from_settings(Settings()).databases == ""
    clean_env.setenv("ORCHESTRATOR_DATABASES", '{"full": "postgresql://u:pw@db/full"}')
    databases = pipeline_from_settings(Settings()).databases
    assert isinstance(databases, dg.EnvVar) and databases == "ORCHESTRATOR_DATABASES"


def test_orchestrator_up_passes_the_databases_on_as_json(clean_env, tmp_path):
    site = {"client_id": "c", "client_secret": "s"}
    settings = Settings(home=tmp_path / "home", databases={"full": "postgresql://db/full"})
    env, _ = stack_env(settings, "http://127.0.0.1:1", site)
    assert json.loads(env["ORCHESTRATOR_DATABASES"]) == {"full": "postgresql://db/full"}  # not a Python repr
    assert "ORCHESTRATOR_DATABASES" not in stack_env(Settings(home=tmp_path / "home"), "http://127.0.0.1:1", site)[0]


def test_a_curation_batch_past_one_page_is_refused_naming_the_variable(clean_env):
    """The curation sensor reads a batch as one page of GET /metadata/{collection}, at most 1000 documents."""
    clean_env.setenv("ORCHESTRATOR_CURATION_BATCH", "1001")
    with pytest.raises(ValueError, match="curation_batch"):
        Settings()
