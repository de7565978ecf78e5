"""The site's Dagster definitions (what workspace.yaml loads): assembly only, no logic."""

import dagster as dg

from orchestrator import startup
from orchestrator.executors import executor_for
from orchestrator.resources import pipeline_from_settings, runtime_from_env, site_from_settings
from orchestrator.sensors import make_claim_sensor, make_curation_sensor, make_new_objects_sensor, make_reconcile_sensor
from orchestrator.settings import Settings
from orchestrator.workflows import WORKFLOWS
from orchestrator.workflows.triggers import load_triggers

startup.for_dagster_code()
settings = Settings()
interval = settings.sensor_interval_seconds

defs = dg.Definitions(
    executor=executor_for(settings),  # in the run worker unless the site chooses (a job may set its own)
    jobs=[workflow.job for workflow in WORKFLOWS.values()],
    sensors=[
        make_new_objects_sensor(load_triggers(settings.triggers_dir), interval),
        *[make_claim_sensor(workflow, interval) for workflow in WORKFLOWS.values()],
        make_reconcile_sensor(interval),
        make_curation_sensor("biosample_set", settings.curation_batch, max(interval, 10)),
    ],
    resources={
        "runtime": runtime_from_env(),
        "site": site_from_settings(settings),
        "pipeline": pipeline_from_settings(settings),
    },
)
