"""Claim sensors, one per workflow: claim open jobs up to this site's free run slots and launch a
run for each claim, keyed by the operation id so a claim never becomes two runs.

A batch workflow (WorkflowSpec.batch_size > 1) claims up to that many jobs per free slot and spreads
them evenly over the runs it launches. Claiming only what it can start keeps jobs in the shared queue for other sites instead of
hoarding them here. `claim_runs` is shared with the new-objects sensor, which claims the jobs it has
just opened in the same tick (ORCHESTRATOR_CLAIM_ON_OPEN).
"""

from dataclasses import dataclass

import dagster as dg

from orchestrator.resources import SiteResource
from orchestrator.runtime.client import RuntimeClientError, new_claim_token
from orchestrator.runtime.models import MAX_JOBS_PER_CLAIM
from orchestrator.sensors.evaluation import SensorScope, site_sensor
from orchestrator.workflows import WorkflowSpec
from orchestrator.workflows.common import (
    BATCH_PREFIX,
    BATCH_SIZE_TAG,
    JOB_TAG,
    MAX_RUNTIME_TAG,
    OPERATION_TAG,
    PRIORITY_TAG,
    SHARE_TAG,
    SITE_TAG,
    WORKFLOW_TAG,
)

IN_PROGRESS = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]
SETTLED = ""  # the cursor when no claim is waiting for its outcome


def free_slots(instance: dg.DagsterInstance, workflow_id: str, site: SiteResource) -> int:
    busy = instance.get_runs_count(
        dg.RunsFilter(tags={WORKFLOW_TAG: workflow_id, SITE_TAG: site.site_id}, statuses=IN_PROGRESS)
    )
    return max(0, site.max_runs_per_workflow + site.claim_ahead - busy)


@dataclass
class Claimed:
    run_requests: list[dg.RunRequest]
    pending: str  # the key of a claim that got no answer, to send again (SETTLED when none)
    message: str  # why nothing was launched


def claim_runs(
    context: dg.SensorEvaluationContext,
    scope: SensorScope,
    workflow: WorkflowSpec,
    free: int,
    claim_token: str | None = None,
) -> Claimed:
    """Claim jobs of `workflow` for up to `free` runs, a RunRequest for each run. `claim_token` replays a claim
    whose answer was lost, so the runtime returns the operations it made then instead of leaving them
    held by nobody until their lease runs out."""
    claim_token = claim_token or new_claim_token()
    runtime, site = scope.runtime, scope.site
    try:
        wanted = min(free * workflow.batch_size, MAX_JOBS_PER_CLAIM)
        ops = runtime.client().claim_next(workflow.id, wanted, site.lease_seconds, claim_token=claim_token)
    except RuntimeClientError as exc:
        if exc.code == "SITE_PAUSED":  # `orchestrator site pause`: a state, not a failure
            return Claimed([], SETTLED, exc.message)
        if exc.forbidden:  # this site lacks the workflow's capabilities: nothing to do here
            return Claimed([], SETTLED, f"{exc.code}: {exc.message}")
        if exc.permanent:
            raise
        # The claim may have committed before the runtime went away: keep its key for the next tick.
        context.log.warning(f"claim of {workflow.id} jobs got no answer ({exc.code}); retrying it next tick")
        return Claimed([], claim_token, f"{exc.code}: {exc.message} (the claim is retried next tick)")
    # A replayed claim can return operations that ended meanwhile (their lease ran out): not runnable.
    live = [op for op in ops if not op["done"]]
    for op in live:
        context.log.info(f"claimed job {op['job_id']}: operation {op['id']}")
    batches = split_evenly(live, workflow.batch_size, free)
    shares = [_share(batch) for batch in batches]
    in_flight = share_runs(scope.instance, site, set(shares) - {None})
    runs = []
    for batch, share in zip(batches, shares, strict=True):
        runs.append(_run_request(workflow, site, batch, share, in_flight.get(share, 0)))
        if share is not None:
            in_flight[share] += 1
    return Claimed(runs, SETTLED, "" if runs else f"No open {workflow.id} jobs to claim.")


def _share(ops: list[dict]) -> str | None:
    """The share of a run's jobs; None if they have none, or not one (a batch may mix shares)."""
    shares = {op.get("share") for op in ops}
    return shares.pop() if len(shares) == 1 else None


def share_runs(instance: dg.DagsterInstance, site: SiteResource, shares: set[str]) -> dict[str, int]:
    """The runs of each share in progress at this site (all workflows: a workspace's load is its runs)."""
    return {
        share: instance.get_runs_count(
            dg.RunsFilter(tags={SHARE_TAG: share, SITE_TAG: site.site_id}, statuses=IN_PROGRESS)
        )
        for share in shares
    }


def split_evenly(ops: list[dict], batch_size: int, runs: int) -> list[list[dict]]:
    """`ops` as few batches of at most `batch_size` as will hold them (a run's start-up is the cost to
    save), but no more than `runs`, and as even as can be: 60 jobs in batches of 50 make 2 runs of 30."""
    count = min(runs, -(-len(ops) // batch_size)) if ops else 0
    return [ops[i::count] for i in range(count)]


def _run_request(
    workflow: WorkflowSpec, site: SiteResource, ops: list[dict], share: str | None, share_in_flight: int
) -> dg.RunRequest:
    limit = {MAX_RUNTIME_TAG: str(site.run_max_runtime_seconds)} if site.run_max_runtime_seconds else {}
    # Dagster's queue starts the highest priority first: a share with n runs at the site waits behind one
    # with fewer (it matters when runs queue: ORCHESTRATOR_CLAIM_AHEAD, or a full max_concurrent_runs).
    fair = {SHARE_TAG: share, PRIORITY_TAG: str(-share_in_flight)} if share is not None else {}
    if len(ops) == 1:
        held = {JOB_TAG: ops[0]["job_id"], OPERATION_TAG: ops[0]["id"]}
    else:
        held = {BATCH_SIZE_TAG: str(len(ops)), **{BATCH_PREFIX + op["job_id"]: op["id"] for op in ops}}
    return dg.RunRequest(
        run_key=ops[0]["id"],  # an operation is claimed once: its run, or its batch's, is made once
        job_name=workflow.job.name,
        tags={**held, WORKFLOW_TAG: workflow.id, SITE_TAG: site.site_id, **limit, **fair},
    )


def make_claim_sensor(workflow: WorkflowSpec, interval: int = 2) -> dg.SensorDefinition:
    """The cursor holds the idempotency key of a claim whose outcome this site has not learned (the
    runtime died or the reply was lost after the claim committed). The next tick sends the same key.
    The cursor is cleared once an answer arrives."""

    @site_sensor(
        name=f"claim_{workflow.job.name}",
        job=workflow.job,
        minimum_interval_seconds=interval,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Claims open {workflow.id} jobs up to the site's free run slots and runs them.",
    )
    def claim(context: dg.SensorEvaluationContext, scope: SensorScope):
        free = free_slots(scope.instance, workflow.id, scope.site)
        if not free:  # a pending claim keeps its key in the cursor until a slot frees
            return dg.SkipReason(f"All {scope.site.max_runs_per_workflow} run slots for {workflow.id} are busy.")
        claimed = claim_runs(context, scope, workflow, free, context.cursor or None)
        if claimed.run_requests:
            return dg.SensorResult(run_requests=claimed.run_requests, cursor=claimed.pending)
        return dg.SensorResult(skip_reason=claimed.message, cursor=claimed.pending)

    return claim
