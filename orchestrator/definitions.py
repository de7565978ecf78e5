"""The site's Dagster definitions (what workspace.yaml loads): assembly only, no logic."""
import dagster as dg

from orchestrator.resources import pipeline_from_env, runtime_from_env, site_from_env
from orchestrator.sensors import make_claim_sensor, make_new_objects_sensor, make_reconcile_sensor, sensor_interval
from orchestrator.workflows import WORKFLOWS
from orchestrator.workflows.triggers import load_triggers

defs = dg.Definitions(
    # Workflow ops are light (HTTP calls, an engine that starts its own action processes): a process per
    # op would cost more than the work. A job that needs isolation can set its own executor_def.
    executor=dg.in_process_executor,
    jobs=[workflow.job for workflow in WORKFLOWS.values()],
    sensors=[
        make_new_objects_sensor(load_triggers(), sensor_interval()),
        *[make_claim_sensor(workflow, sensor_interval()) for workflow in WORKFLOWS.values()],
        make_reconcile_sensor(sensor_interval()),
    ],
    resources={"runtime": runtime_from_env(), "site": site_from_env(), "pipeline": pipeline_from_env()},
)
