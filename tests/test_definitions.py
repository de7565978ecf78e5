"""Smoke test of the site's code location: orchestrator.definitions loads as the daemon loads it,
with a job for every registered workflow and the sensors of DESIGN.md §4."""

import dagster as dg

from orchestrator.definitions import defs
from orchestrator.workflows import WORKFLOWS


def test_definitions_are_loadable():
    dg.Definitions.validate_loadable(defs)


def test_sensors_are_new_objects_one_claim_per_workflow_and_reconcile():
    names = {sensor.name for sensor in defs.sensors}
    claims = {f"claim_{spec.job.name}" for spec in WORKFLOWS.values()}
    assert names == {"new_objects", "lease_reconcile", *claims}
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
