"""The site's Dagster definitions (what workspace.yaml loads): assembly only, no logic."""
import dagster as dg

from orchestrator.resources import pipeline_from_env, runtime_from_env, site_from_env
from orchestrator.sensors import make_claim_sensor, make_new_objects_sensor, make_reconcile_sensor, sensor_interval
from orchestrator.workflows import WORKFLOWS
from orchestrator.workflows.triggers import load_triggers

defs = dg.Definitions(
    jobs=[workflow.job for workflow in WORKFLOWS.values()],
    sensors=[
        make_new_objects_sensor(load_triggers(), sensor_interval()),
        *[make_claim_sensor(workflow, sensor_interval()) for workflow in WORKFLOWS.values()],
        make_reconcile_sensor(sensor_interval()),
    ],
    resources={"runtime": runtime_from_env(), "site": site_from_env(), "pipeline": pipeline_from_env()},
)
