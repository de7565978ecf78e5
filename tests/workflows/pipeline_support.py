"""What the pipeline workflow's tests share: a study archive, and a job for it that a site really
claims and runs in process through the pipeline Dagster job (in a thread, for tests that act while it runs)."""

import threading
from pathlib import Path

from orchestrator.pipeline import pack_directory
from orchestrator.resources import PipelineResource
from orchestrator.workflows import WORKFLOWS
from tests.conftest import REPO_ROOT

PIPELINE = WORKFLOWS["pipeline-1.0.0"]
STUDY = REPO_ROOT / "examples" / "study"


def study_archive(tmp_path: Path, study: Path = STUDY) -> bytes:
    archive = tmp_path / f"{study.name}.tar.gz"
    pack_directory(study, archive)
    return archive.read_bytes()


def run_study(
    instance, site, admin, archive: bytes, tmp_path, pipeline: PipelineResource | None = None, tags=None, **config
):
    """Create a pipeline job for `archive` with `config` (workspace w1, run_all unless given), claim it as
    `site`, run it (with `tags` beside the claim sensor's); (Dagster result, job, operation) as the runtime
    has them afterwards."""
    study = site.client.create_object(archive, name="study.tar.gz", types=["study"], mime_type="application/gzip")
    job_id = admin.create_job(PIPELINE.id, [study["id"]], config={"workspace": "w1", "actions": ["run_all"], **config})[
        "id"
    ]
    op = site.client.claim_job(job_id)
    pipeline = pipeline or PipelineResource(workspaces_dir=str(tmp_path / "workspaces"))
    result = PIPELINE.job.execute_in_process(
        instance=instance,
        tags={**site.tags(job_id, op["id"], PIPELINE.id), **(tags or {})},
        resources={"runtime": site.runtime, "pipeline": pipeline},
        raise_on_error=False,
    )
    return result, admin.get(f"/jobs/{job_id}"), admin.get(f"/operations/{op['id']}")


def run_study_in_thread(instance, site, admin, archive: bytes, tmp_path, pipeline: PipelineResource) -> tuple:
    """`run_study` in a thread: (thread, box); box["outcome"] holds its result once the thread has ended."""
    box = {}
    thread = threading.Thread(
        target=lambda: box.update(outcome=run_study(instance, site, admin, archive, tmp_path, pipeline))
    )
    thread.start()
    return thread, box


def latest_job_actions(admin) -> dict:
    """The per-action states in the operation metadata of the newest pipeline job; {} before it is claimed."""
    jobs = admin.get("/jobs", workflow_id=PIPELINE.id)["items"]
    if not jobs or not jobs[-1]["operation_id"]:
        return {}
    return admin.get(f"/operations/{jobs[-1]['operation_id']}")["metadata"].get("actions") or {}
