"""`orchestrator site retry` with a live runtime and the pipeline Dagster job: an action that failed with
INTERNAL_ERROR (the site could not start it: its image map was wrong) keeps its job directory; once the
operator has fixed the cause, retry opens the runtime job again and the next run resumes the action in
that very directory (what it holds is still there) and the job succeeds. A retry of anything else is
refused with the reason, and changes nothing."""

import os
import subprocess
import sys
from pathlib import Path

from orchestrator.pipeline.jobdirs import JobDirs, JobRecord
from orchestrator.resources import PipelineResource
from tests.workflows.pipeline_support import PIPELINE, run_study
from tests.workflows.test_pipeline_cancel import write_study

# Writes its output from what it finds in the job directory: a file another attempt left is carried on.
RESUME = """\
import pathlib
found = pathlib.Path("output/partial.txt")
pathlib.Path("output").mkdir(exist_ok=True)
pathlib.Path("output/result.csv").write_text(found.read_text() if found.exists() else "from scratch\\n")
"""


def site_cli(site, tmp_path, *args) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "ORCHESTRATOR_URL": site.runtime.url,
        "ORCHESTRATOR_CLIENT_ID": site.runtime.client_id,
        "ORCHESTRATOR_CLIENT_SECRET": site.runtime.client_secret,
        "ORCHESTRATOR_SITE_ID": site.id,
        "ORCHESTRATOR_JOBS_DIR": str(tmp_path / "jobs"),
        "ORCHESTRATOR_WORKSPACES_DIR": str(tmp_path / "workspaces"),
    }
    return subprocess.run(
        [str(Path(sys.executable).parent / "orchestrator"), "site", *args],
        env=env,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


def pipeline_with(tmp_path, python: str) -> PipelineResource:
    return PipelineResource(
        workspaces_dir=str(tmp_path / "workspaces"),
        jobs_dir=str(tmp_path / "jobs"),
        image_map=f'{{"python": ["{python}"]}}',
    )


def test_retry_resumes_an_internal_error_in_its_job_directory(instance, site, registered, tmp_path):
    archive = write_study(
        tmp_path,
        "resume",
        "version: '4.0'\nactions:\n"
        "  result:\n    run: python:v2 analysis/resume.py\n    outputs: {moderately_sensitive: {o: output/result.csv}}\n",
        {"resume.py": RESUME},
    )
    _, job, op = run_study(instance, site, registered, archive, tmp_path, pipeline_with(tmp_path, "/no/such/python"))
    assert job["status"] == "failed"
    failed = op["error"]["details"]["actions"]["result"]
    assert failed["status_code"] == "INTERNAL_ERROR" and "could not start" in failed["status_message"]
    dirs = JobDirs(tmp_path / "jobs")
    (kept,) = dirs.records()
    assert kept.status_code == "INTERNAL_ERROR" and kept.labels["runtime_job_id"] == job["id"]
    # What a first attempt had done, still in its job directory.
    (dirs.job_dir(kept.job_id) / "output").mkdir()
    (dirs.job_dir(kept.job_id) / "output" / "partial.txt").write_text("carried on from the first attempt\n")

    retried = site_cli(site, tmp_path, "retry", kept.job_id[:6])
    assert retried.returncode == 0, retried.stderr
    assert f"runtime job {job['id']} is open again" in retried.stdout
    assert registered.get(f"/jobs/{job['id']}")["status"] == "open"

    # The operator fixed the image map; the site claims the job again and runs it.
    op = site.client.claim_job(job["id"])
    result = PIPELINE.job.execute_in_process(
        instance=instance,
        tags=site.tags(job["id"], op["id"], PIPELINE.id),
        resources={"runtime": site.runtime, "pipeline": pipeline_with(tmp_path, sys.executable)},
        raise_on_error=False,
    )
    assert result.success
    assert registered.get(f"/jobs/{job['id']}")["status"] == "succeeded"
    workspace = tmp_path / "workspaces" / "w1"
    assert (workspace / "output" / "result.csv").read_text() == "carried on from the first attempt\n"
    assert list(dirs.records()) == []  # an ordinary end: its directory is gone

    again = site_cli(site, tmp_path, "retry", kept.job_id)
    assert again.returncode == 1 and "has no job directory here: it ended SUCCEEDED" in again.stderr


def test_retry_refuses_anything_but_an_internal_error_and_changes_nothing(instance, site, registered, tmp_path):
    dirs = JobDirs(tmp_path / "jobs")
    dirs.start(JobRecord("killed01", "extract", "w1", state="finished", status_code="KILLED_BY_ADMIN"))
    refused = site_cli(site, tmp_path, "retry", "killed01")
    assert refused.returncode == 1
    assert "Not retried: killed01 (extract) ended KILLED_BY_ADMIN; only an action that failed with INTERNAL_ERROR" in (
        refused.stderr
    )
    dirs.start(JobRecord("early01", "extract", "w1", state="finished", status_code="INTERNAL_ERROR"))
    early = site_cli(site, tmp_path, "retry", "early01")
    assert early.returncode == 1 and "failed before its job directory was ready" in early.stderr
    assert not any(record.retry_requested for record in dirs.records())
