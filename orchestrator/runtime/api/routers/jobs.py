"""/jobs: create, list, show; the :claim, :release, :cancel and :retry verbs."""

from fastapi import APIRouter, Response
from starlette.concurrency import run_in_threadpool

from orchestrator.runtime.api.deps import AfterSeq, BearerTokenDep, BeforeSeq, Limit, PrincipalDep, SiteDep, StoreDep
from orchestrator.runtime.models import (
    CancelRequest,
    ClaimedOperations,
    ClaimNextRequest,
    ClaimRequest,
    Job,
    JobCreate,
    JobStatus,
    Operation,
    Page,
    ReleaseRequest,
)

router = APIRouter(prefix="/jobs", tags=["jobs"])


@router.post(
    "",
    response_model=Job,
    status_code=201,
    responses={200: {"model": Job, "description": "The identical job already existed"}},
)
def create_job(body: JobCreate, store: StoreDep, principal: PrincipalDep, response: Response) -> Job:
    job, created = store.create_job(body, principal)
    response.status_code = 201 if created else 200
    return job


@router.post(
    ":claimNext",
    response_model=ClaimedOperations,
    summary="Claim the oldest open jobs of a workflow (up to max_jobs) that this site may claim; "
    "an empty list when none is open",
    responses={403: {"description": "Site lacks a capability the workflow needs"}},
)
async def claim_next(body: ClaimNextRequest, store: StoreDep, token: BearerTokenDep) -> ClaimedOperations:
    # The sites' hot path, kept to one thread-pool hop and one database connection: async (FastAPI makes
    # a second hop just to serialise a sync endpoint's reply), and the store checks the token (sites
    # only) in the claim's own transaction.
    operations = await run_in_threadpool(
        store.claim_next_with_token, token, body.workflow_id, body.max_jobs, body.lease_seconds, body.claim_token
    )
    return ClaimedOperations(operations=operations)


@router.get("", response_model=Page[Job])
def list_jobs(
    store: StoreDep,
    _: PrincipalDep,
    after_seq: AfterSeq = 0,
    before_seq: BeforeSeq = None,
    limit: Limit = 100,
    status: JobStatus | None = None,
    workflow_id: str | None = None,
):
    return store.list_jobs(after_seq, limit, status, workflow_id, before_seq=before_seq)


@router.get("/{job_id}", response_model=Job)
def get_job(job_id: str, store: StoreDep, _: PrincipalDep) -> Job:
    return store.get_job(job_id)


@router.post(
    "/{job_id}:claim",
    response_model=Operation,
    status_code=201,
    responses={
        409: {"description": "Not open (someone else claimed it)"},
        403: {"description": "Site lacks a capability (MISSING_CAPABILITY), or the job is another site's (WRONG_SITE)"},
    },
)
def claim_job(job_id: str, store: StoreDep, site: SiteDep, body: ClaimRequest | None = None) -> Operation:
    return store.claim_job(job_id, site, body.lease_seconds if body else None)


@router.post(
    "/{job_id}:release", response_model=Job, summary="Give a claimed job back to the queue (owning site or admin)"
)
def release_job(job_id: str, store: StoreDep, principal: PrincipalDep, body: ReleaseRequest | None = None) -> Job:
    return store.release_job(job_id, principal, body.operation_id if body else None)


@router.post(
    "/{job_id}:cancel",
    response_model=Job,
    summary='Cancel a job; with {"parts": [...]}, only those parts (the job goes on)',
    responses={409: {"description": "The job already finished (INVALID_TRANSITION)"}},
)
def cancel_job(job_id: str, store: StoreDep, principal: PrincipalDep, body: CancelRequest | None = None) -> Job:
    return store.cancel_job(job_id, principal, body.parts if body else None)


@router.post(
    "/{job_id}:retry",
    response_model=Job,
    summary="Open a failed or cancelled job again (people; a site only a failed job it ran last)",
    responses={
        409: {"description": "JOB_NOT_RETRYABLE: the job is not failed or cancelled (for a site: not failed)"},
        403: {"description": "NOT_OWNER: a site that did not run the job last"},
    },
)
def retry_job(job_id: str, store: StoreDep, principal: PrincipalDep) -> Job:
    # A site's sensors never call this (they could loop a failing job forever); its operator's
    # `orchestrator site retry` does, for a job that failed at that site.
    return store.retry_job(job_id, principal)
