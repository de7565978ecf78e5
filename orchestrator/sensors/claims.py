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
    return max(0, site.max_runs_per_workflow - busy)


MAX_PAGES = 3  # per tick: past that many pages of lost races, leave the rest to the next tick


def open_jobs(client, workflow_id: str, free: int):
    """Open jobs, oldest first, a page at a time. A page asks for a few more than we can run (other
    sites race us for the same oldest jobs); when they won them all we page on instead of idling."""
    after = 0
    for _ in range(MAX_PAGES):
        page = client.get("/jobs", status="open", workflow_id=workflow_id, limit=free * 2, after_seq=after)
        yield from page["items"]
        if page["next_after_seq"] is None:
            return
        after = page["next_after_seq"]


def make_claim_sensor(workflow: WorkflowSpec, interval: int = 2) -> dg.SensorDefinition:
    @dg.sensor(name=f"claim_{workflow.job.name}", job=workflow.job, minimum_interval_seconds=interval,
               default_status=dg.DefaultSensorStatus.RUNNING,
               description=f"Claims open {workflow.id} jobs up to the site's free run slots and runs them.")
    def claim(context: dg.SensorEvaluationContext, runtime: RuntimeResource, site: SiteResource):
        free = free_slots(context.instance, workflow.id, site)
        if not free:
            return dg.SkipReason(f"All {site.max_runs_per_workflow} run slots for {workflow.id} are busy.")
        client = runtime.client()
        requests = []
        for job in open_jobs(client, workflow.id, free):
            if len(requests) == free:
                break
            try:
                op = client.claim_job(job["id"], site.lease_seconds)
            except RuntimeClientError as exc:
                if exc.status == 409 and "your_operation_id" in exc.details:
                    # Our claim won but its reply was lost and the retry met our own claim: run that operation
                    # (run_key = operation id, so a run that already exists for it is not launched twice).
                    op = {"id": exc.details["your_operation_id"]}
                elif exc.status == 409:  # another site won it
                    continue
                elif exc.status == 403:  # this site lacks the workflow's capabilities: nothing to do here
                    return dg.SkipReason(f"{exc.code}: {exc.message}")
                elif not requests:
                    raise
                else:
                    # Launch what we already hold rather than strand those claims until their leases expire.
                    context.log.warning(f"Claiming {job['id']} failed ({exc}); launching the {len(requests)} run(s) claimed so far.")
                    break
            requests.append(dg.RunRequest(run_key=op["id"], tags={
                JOB_TAG: job["id"], OPERATION_TAG: op["id"], WORKFLOW_TAG: workflow.id, SITE_TAG: site.site_id}))
        if not requests:
            return dg.SkipReason(f"No open {workflow.id} jobs to claim.")
        return dg.SensorResult(run_requests=requests)

    return claim
