"""Batches of light jobs: one Dagster run, one op, many jobs. A light workflow is a function of one
job's input; `batch_job` wraps it in a Dagster job that runs each job of its batch in turn and reports
each job's operation on its own, so a run's start-up (about 2.5 s) is paid once per batch, not per job.

One job's failure fails that job only; the run fails at the end, naming them. If the run itself dies
(its worker is killed, the runtime is unreachable), the reconcile sensor releases the jobs it had not
reported, and each is claimed again once. The run's tags name every job (BATCH_PREFIX + job id), and
each job leaves a line in the run's event log saying what became of it.
"""

import shutil
from collections.abc import Callable
from dataclasses import dataclass

import dagster as dg

from orchestrator.resources import RuntimeResource
from orchestrator.runtime.client import RuntimeClient, RuntimeClientError
from orchestrator.workflows.common import (
    JobInput,
    WorkflowFailure,
    failure_report,
    fetch_input,
    record_run_worker,
    run_dir,
    run_operations,
    run_tags,
)

KIND_TAG = "runtime/kind"  # "batch" on a batch job's runs; WorkflowSpec checks it before allowing batch_size > 1
Handler = Callable[[dg.OpExecutionContext, JobInput], dict]


@dataclass(frozen=True)
class Outcome:
    job_id: str
    operation_id: str
    status: str  # succeeded, failed, or skipped (the job is no longer this run's)
    code: str = ""
    message: str = ""

    def line(self) -> str:
        said = ": ".join(part for part in (self.code, self.message) if part)
        return f"job {self.job_id} (operation {self.operation_id}) {self.status}" + (f": {said}" if said else "")


def run_one(context: dg.OpExecutionContext, client: RuntimeClient, handle: Handler, job_id: str, op_id: str) -> Outcome:
    """Run one job of the batch and report its operation. A runtime that cannot be reached is not the
    job's fault: that error ends the run, and the jobs not yet reported go back to the queue."""
    workdir = run_dir(context.run_id) / job_id
    try:
        job = client.get_job(job_id).model_dump(mode="json")
        if job["status"] != "claimed" or job["operation_id"] != op_id:
            # Cancelled, lease lost or retried since the claim, or a re-execution of an old run.
            return Outcome(
                job_id, op_id, "skipped", message=f"the job is {job['status']} (operation {job['operation_id']})"
            )
        error, result = None, handle(context, fetch_input(client, job, op_id, workdir))
    except RuntimeClientError as exc:
        if not exc.permanent:
            raise
        error, result = {"code": exc.code, "message": exc.message, "details": exc.details}, None
    except Exception as exc:  # noqa: BLE001 -- one job's bug or bad input fails that job, not its batch
        if not isinstance(exc, WorkflowFailure):
            context.log.exception(f"job {job_id} failed")  # the traceback stays at the site
        error, result = failure_report(exc, context.op.name), None
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    outcome = {"error": error} if error else {"result": result}
    try:
        client.update_operation(op_id, done=True, metadata={"dagster_run_id": context.run_id}, **outcome)
    except RuntimeClientError as exc:
        if not exc.conflict:
            raise
        return Outcome(job_id, op_id, "skipped", message=f"its operation closed meanwhile ({exc.message})")
    if error:
        return Outcome(job_id, op_id, "failed", error["code"], error["message"])
    return Outcome(job_id, op_id, "succeeded")


def batch_job(name: str, handle: Handler, description: str = "") -> dg.JobDefinition:
    """A Dagster job that runs `handle` for every job its run's tags hold (one or a batch)."""

    @dg.op(name=f"{name}_batch", description=f"Run each job of the batch with {handle.__name__} and report it.")
    def run_batch(context: dg.OpExecutionContext, runtime: RuntimeResource) -> dict:
        record_run_worker(context)
        client = runtime.client()
        jobs = run_operations(run_tags(context))
        outcomes = []
        for job_id, op_id in jobs:
            outcomes.append(run_one(context, client, handle, job_id, op_id))
            context.log.info(outcomes[-1].line())
        shutil.rmtree(run_dir(context.run_id), ignore_errors=True)
        counts = {status: sum(o.status == status for o in outcomes) for status in ("succeeded", "failed", "skipped")}
        failed = [o for o in outcomes if o.status == "failed"]
        if failed:
            raise WorkflowFailure(
                "BATCH_JOBS_FAILED",
                f"{len(failed)} of {len(jobs)} jobs failed: "
                + ", ".join(f"{o.job_id} ({o.code})" for o in failed[:20])
                + (" ..." if len(failed) > 20 else ""),
                metadata={**counts, "failed_jobs": [o.job_id for o in failed]},
            )
        context.add_output_metadata({**counts, "jobs": len(jobs)})
        return counts

    @dg.job(name=name, description=description or None, tags={KIND_TAG: "batch"})
    def job():
        run_batch()

    return job
