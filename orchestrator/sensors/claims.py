"""Claim sensors, one per workflow: claim open jobs up to this site's free run slots and launch a
run for each claim, keyed by the operation id so a claim never becomes two runs.

Claiming only what it can start keeps jobs in the shared queue for other sites instead of
hoarding them here.
"""
import dagster as dg

from orchestrator.resources import RuntimeResource, SiteResource
from orchestrator.runtime.client import RuntimeClientError
from orchestrator.workflows import WorkflowSpec
from orchestrator.workflows.common import JOB_TAG, OPERATION_TAG, SITE_TAG, WORKFLOW_TAG

IN_PROGRESS = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
               dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]


def free_slots(instance: dg.DagsterInstance, workflow_id: str, site: SiteResource) -> int:
    busy = instance.get_runs_count(dg.RunsFilter(tags={WORKFLOW_TAG: workflow_id, SITE_TAG: site.site_id}, statuses=IN_PROGRESS))
    return max(0, site.max_runs_per_workflow + site.claim_ahead - busy)


def make_claim_sensor(workflow: WorkflowSpec, interval: int = 2) -> dg.SensorDefinition:
    @dg.sensor(name=f"claim_{workflow.job.name}", job=workflow.job, minimum_interval_seconds=interval,
               default_status=dg.DefaultSensorStatus.RUNNING,
               description=f"Claims open {workflow.id} jobs up to the site's free run slots and runs them.")
    def claim(context: dg.SensorEvaluationContext, runtime: RuntimeResource, site: SiteResource):
        free = free_slots(context.instance, workflow.id, site)
        if not free:
            return dg.SkipReason(f"All {site.max_runs_per_workflow} run slots for {workflow.id} are busy.")
        # One request claims up to `free` jobs, oldest first, with no races lost to other sites. A retry
        # after a lost reply returns the same operations (idempotency key), so no claim is stranded.
        try:
            ops = runtime.client().claim_next(workflow.id, free, site.lease_seconds)
        except RuntimeClientError as exc:
            if exc.status == 403:  # this site lacks the workflow's capabilities: nothing to do here
                return dg.SkipReason(f"{exc.code}: {exc.message}")
            raise
        if not ops:
            return dg.SkipReason(f"No open {workflow.id} jobs to claim.")
        return dg.SensorResult(run_requests=[dg.RunRequest(run_key=op["id"], tags={
            JOB_TAG: op["job_id"], OPERATION_TAG: op["id"], WORKFLOW_TAG: workflow.id, SITE_TAG: site.site_id}) for op in ops])

    return claim
