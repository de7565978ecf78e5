"""A run's maximum runtime (`dagster/max_runtime`, set by the claim sensor from
ORCHESTRATOR_RUN_MAX_RUNTIME_SECONDS) through the pipeline Dagster job: when it runs out the running
action is killed and every unfinished one ends JOB_TIMEOUT, and the job fails once with those codes,
well before Dagster's own run monitoring would have stopped the run."""

import time

from orchestrator.workflows.common import MAX_RUNTIME_TAG
from tests.workflows.pipeline_support import run_study
from tests.workflows.test_pipeline_cancel import SLEEP, WRITE, write_study


def test_a_run_past_its_maximum_runtime_fails_its_job_with_job_timeout(instance, site, registered, tmp_path):
    archive = write_study(
        tmp_path,
        "slow",
        "version: '4.0'\nactions:\n"
        "  quick:\n    run: python:v2 analysis/write.py output/quick.csv\n"
        "    outputs: {highly_sensitive: {o: output/quick.csv}}\n"
        "  long:\n    run: python:v2 analysis/sleep.py\n    needs: [quick]\n"
        "    outputs: {highly_sensitive: {o: output/long.csv}}\n"
        "  after_long:\n    run: python:v2 analysis/write.py output/after.csv\n    needs: [long]\n"
        "    outputs: {highly_sensitive: {o: output/after.csv}}\n",
        {"sleep.py": SLEEP, "write.py": WRITE},
    )
    began = time.monotonic()
    result, job, op = run_study(instance, site, registered, archive, tmp_path, tags={MAX_RUNTIME_TAG: "4"})
    assert time.monotonic() - began < 40  # long sleeps 60 s
    assert not result.success and job["status"] == "failed" and op["error"]["code"] == "ACTIONS_FAILED"
    actions = op["error"]["details"]["actions"]
    assert {name: a["status_code"] for name, a in actions.items()} == {
        "quick": "SUCCEEDED",
        "long": "JOB_TIMEOUT",
        "after_long": "JOB_TIMEOUT",
    }
    assert actions["long"]["status_message"] == "the run's maximum runtime ran out; its processes were killed"
    assert actions["after_long"]["status_message"] == "not started: the run's maximum runtime ran out"
