"""Smoke test of the site's code location: orchestrator.definitions loads as the daemon loads it,
with a job for every registered workflow and the sensors of DESIGN.md §4."""

import os
import subprocess
import sys

import dagster as dg
import yaml

from orchestrator.definitions import defs
from orchestrator.workflows import WORKFLOWS
from tests.conftest import REPO_ROOT


def test_definitions_are_loadable():
    dg.Definitions.validate_loadable(defs)


def test_sensors_are_new_objects_one_claim_per_workflow_and_reconcile():
    names = {sensor.name for sensor in defs.sensors}
    claims = {f"claim_{spec.job.name}" for spec in WORKFLOWS.values()}
    assert names == {"new_objects", "lease_reconcile", "curate_biosample_set", *claims}
    for spec in WORKFLOWS.values():
        sensor = defs.resolve_sensor_def(f"claim_{spec.job.name}")
        assert sensor.job_name == spec.job.name
        assert sensor.default_status == dg.DefaultSensorStatus.RUNNING


def test_every_workflow_job_is_defined_with_the_resources_it_needs():
    assert {"runtime", "site"} <= set(defs.resources)
    for spec in WORKFLOWS.values():
        job = defs.resolve_job_def(spec.job.name)
        assert job.graph.name == spec.job.graph.name
        assert "runtime" in job.resource_defs  # bound from the Definitions, not left for run config


def test_the_code_location_reads_dotenv_and_loglevel_and_dagster_keeps_our_log_lines(tmp_path):
    """LOGLEVEL (here from a .env in the working directory) sets the `orchestrator` loggers in the site's
    Dagster processes, and the instance's dagster.yaml hands those lines to each run's event log."""
    (tmp_path / ".env").write_text("LOGLEVEL=DEBUG\nORCHESTRATOR_SITE_ID=from-dotenv\n")
    probe = (
        "import logging, os, orchestrator.definitions; "
        "print(logging.getLevelName(logging.getLogger('orchestrator').level), os.environ['ORCHESTRATOR_SITE_ID'])"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("LOGLEVEL", "ORCHESTRATOR_SITE_ID")}
    env["PYTHONPATH"] = str(REPO_ROOT)
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["DEBUG", "from-dotenv"]
    config = yaml.safe_load((REPO_ROOT / "dagster.yaml").read_text())
    assert config["python_logs"]["managed_python_loggers"] == ["orchestrator"]
