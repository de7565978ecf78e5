"""One Settings object: ORCHESTRATOR_* variables, a `.env` file in the working directory beneath them,
and every local path derived from ORCHESTRATOR_HOME unless set on its own."""

import os
from pathlib import Path

import pytest

from orchestrator.settings import Settings


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
