"""What every workflow graph shares: its first op loads the job's input through the runtime, its
last op reports the result, and a failure hook reports any op's failure with a code and message.

Ops find their job and operation in the run's tags (set by the claim sensor), so a workflow needs
no run config. Progress goes to the operation's metadata as the run goes.
"""

import os
import shutil
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg

from orchestrator.resources import RuntimeResource
from orchestrator.runtime.client import RuntimeClient, RuntimeClientError
from orchestrator.runtime.models import Job

JOB_TAG, OPERATION_TAG, WORKFLOW_TAG, SITE_TAG = (
    "runtime/job_id",
    "runtime/operation_id",
    "runtime/workflow_id",
    "runtime/site_id",
)
# Where the run worker lives, so the reconcile sensor can tell a crashed local run from a slow one
# (Dagster's DefaultRunLauncher has no run-worker health check of its own).
PID_TAG, HOST_TAG = "runtime/pid", "runtime/host"
# A batch run (orchestrator/workflows/batch.py) holds several jobs: a tag per job, BATCH_PREFIX + job id ->
# operation id, so the Dagster UI lists every job of the run and a run can be found by its job's tag key.
BATCH_PREFIX, BATCH_SIZE_TAG = "runtime-batch/", "runtime/batch_size"
# Dagster's own: its run monitoring ends a run that has been going longer (ORCHESTRATOR_RUN_MAX_RUNTIME_SECONDS).
MAX_RUNTIME_TAG = "dagster/max_runtime"
# A run's jobs' share (a jobs site's workspace), and Dagster's own priority in its run queue (higher first):
# the claim sensor puts a share's runs behind those of shares with fewer runs at the site.
SHARE_TAG, PRIORITY_TAG = "runtime/share", "dagster/priority"


class WorkflowFailure(dg.Failure):
    """An expected failure (bad input, a failed check, failed actions). Dagster shows its message and
    `metadata` on the step that failed, as words rather than a traceback; the runtime gets only the
    code, message and details (`metadata` may hold log lines, which stay at the site)."""

    def __init__(self, code: str, message: str, details: dict | None = None, metadata: dict | None = None):
        super().__init__(
            description=f"{code}: {message}", metadata={"code": code, **(metadata or {})}, allow_retries=False
        )
        self.code, self.message, self.details = code, message, details or {}


@dataclass
class JobInput:
    job: dict
    operation_id: str
    objects: list[dict]
    paths: list[str]  # local copies of the input objects' bytes, in `objects` order

    @property
    def config(self) -> dict:
        return self.job["config"]


def run_tags(context) -> dict:
    # Op contexts carry the run; hook contexts only its id.
    run = getattr(context, "run", None) or context.instance.get_run_by_id(context.run_id)
    return run.tags


def operation_id_of(context) -> str:
    return run_tags(context)[OPERATION_TAG]


def run_operations(tags: dict[str, str]) -> list[tuple[str, str]]:
    """(job id, operation id) of every job a run holds: one, or a batch's (empty for other runs)."""
    if OPERATION_TAG in tags:
        return [(tags[JOB_TAG], tags[OPERATION_TAG])]
    return sorted(
        (key.removeprefix(BATCH_PREFIX), value) for key, value in tags.items() if key.startswith(BATCH_PREFIX)
    )


def run_dir(run_id: str) -> Path:
    """Scratch space of one run (input copies, unpacked studies); removed when the run reports."""
    path = Path(tempfile.gettempdir()) / "orchestrator-runs" / run_id
    path.mkdir(parents=True, exist_ok=True)
    return path


def report_progress(context, runtime: RuntimeResource, **metadata: Any) -> None:
    runtime.client().update_operation(operation_id_of(context), metadata=metadata)


def run_worker_pid(context: dg.OpExecutionContext) -> int:
    """The pid of the run worker, which lives as long as the run does. In process (the default) that
    is this process. Under the multiprocess executor each op runs in its own short-lived child, so the
    op's own pid would look like a crash the moment the op ends: the RUN_START event is always written
    by the run worker itself."""
    if context.job_def.executor_def is dg.in_process_executor:
        return os.getpid()
    started = context.instance.all_logs(context.run_id, of_type=dg.DagsterEventType.RUN_START)
    pid = started[0].dagster_event.pid if started and started[0].dagster_event else None
    return pid or os.getpid()


# What to do instead of re-executing a run whose operation is done, by the job's status now.
_RETRY = "To run it again, retry the job: `orchestrator jobs retry {job}`; a site then claims it as a new run."
_AFTER_DONE = {
    "failed": _RETRY,
    "cancelled": _RETRY,
    "succeeded": "There is nothing to re-run. (`orchestrator jobs retry {job}` runs a failed or cancelled job again.)",
    "open": "It was retried since, and a site will claim it as a new run.",
    "claimed": "It was retried since and runs as a new operation ({operation}).",
}


def refuse_finished_operation(context, job: Job) -> None:
    """A run re-executed from the Dagster UI carries its parent's tags, so its operation may be done:
    refuse at once, saying what to do, rather than run everything and fail late with 409 OPERATION_DONE.
    The job tells: the runtime closes an operation and moves its job on in one transaction, so the
    operation is live exactly while the job is claimed by it."""
    operation_id = operation_id_of(context)
    if job.status == "claimed" and job.operation_id == operation_id:
        return
    advice = _AFTER_DONE.get(job.status, "").format(job=job.id, operation=job.operation_id)
    raise WorkflowFailure(
        "OPERATION_DONE",
        f"Job {job.id} is {job.status}: this run's operation "
        f"{operation_id} is done, so a re-execution cannot report to it. {advice}".rstrip(),
        {"job_id": job.id, "job_status": job.status},
    )


def record_run_worker(context: dg.OpExecutionContext) -> None:
    context.instance.add_run_tags(
        context.run_id, {PID_TAG: str(run_worker_pid(context)), HOST_TAG: socket.gethostname()}
    )


def fetch_input(client: RuntimeClient, job: dict, operation_id: str, workdir: Path) -> JobInput:
    """The job's input objects, each downloaded into `workdir` and checked against its sha256."""
    workdir.mkdir(parents=True, exist_ok=True)
    objects, paths = [], []
    for object_id in job["inputs"]:
        obj = client.get_object(object_id).model_dump(mode="json")
        sha256 = next(c["checksum"] for c in obj["checksums"] if c["type"] == "sha256")
        objects.append(obj)
        paths.append(str(client.download(object_id, workdir / object_id, expected_sha256=sha256)))
    return JobInput(job=job, operation_id=operation_id, objects=objects, paths=paths)


@dg.op(description="Load the job and download its input objects through the runtime.")
def load_input(context: dg.OpExecutionContext, runtime: RuntimeResource) -> JobInput:
    record_run_worker(context)
    client = runtime.client()
    job_model = client.get_job(run_tags(context)[JOB_TAG])
    refuse_finished_operation(context, job_model)
    # JobInput carries plain JSON (workflows read it as dicts, and Dagster pickles it between ops).
    job = job_model.model_dump(mode="json")
    job_input = fetch_input(client, job, operation_id_of(context), run_dir(context.run_id) / "inputs")
    report_progress(context, runtime, dagster_run_id=context.run_id, step="load_input", status_message="input loaded")
    context.add_output_metadata({"job_id": job["id"], "inputs": len(job_input.objects)})
    return job_input


@dg.op(description="Report the workflow's result to the runtime; the job becomes succeeded.")
def report_result(context: dg.OpExecutionContext, runtime: RuntimeResource, result: dict) -> None:
    runtime.client().update_operation(
        operation_id_of(context), done=True, result=result, metadata={"step": "done", "status_message": "succeeded"}
    )
    context.log.info(f"reported result for operation {operation_id_of(context)}")
    shutil.rmtree(run_dir(context.run_id), ignore_errors=True)


def failure_report(exc: BaseException | None, op_name: str) -> dict:
    if isinstance(exc, WorkflowFailure):
        return {"code": exc.code, "message": exc.message, "details": exc.details}
    return {"code": "OP_FAILED", "message": f"Op {op_name!r} failed: {exc}", "details": {"op": op_name}}


@dg.failure_hook(required_resource_keys={"runtime"})
def report_failure(context: dg.HookContext) -> None:
    error = failure_report(context.op_exception, context.op.name)
    shutil.rmtree(run_dir(context.run_id), ignore_errors=True)
    try:
        context.resources.runtime.client().update_operation(operation_id_of(context), done=True, error=error)
    except RuntimeClientError as exc:
        if not exc.conflict:  # already reported (another op failed first, or the run was cancelled)
            raise
