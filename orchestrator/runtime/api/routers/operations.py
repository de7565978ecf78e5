"""/operations: a claim's progress and outcome, reported by the owning site; lease heartbeats."""

from fastapi import APIRouter
from pydantic import BaseModel, Field

from orchestrator.runtime.api.deps import AfterSeq, Limit, PrincipalDep, SiteDep, StoreDep
from orchestrator.runtime.models import Heartbeat, LeaseState, Operation, OperationPatch, Page

router = APIRouter(tags=["operations"])


class SiteMode(BaseModel):
    paused: bool
    maintenance: bool


class HeartbeatResult(BaseModel):
    operations: list[LeaseState]
    missing: list[str]
    site: SiteMode | None = Field(None, description="The site's own mode, so its sensors show it.")


@router.get("/operations", response_model=Page[Operation])
def list_operations(
    store: StoreDep,
    _: PrincipalDep,
    after_seq: AfterSeq = 0,
    limit: Limit = 100,
    site_id: str | None = None,
    job_id: str | None = None,
    done: bool | None = None,
):
    return store.list_operations(after_seq, limit, site_id, job_id, done)


@router.get("/operations/{operation_id}", response_model=Operation)
def get_operation(operation_id: str, store: StoreDep, _: PrincipalDep) -> Operation:
    return store.get_operation(operation_id)


@router.patch(
    "/operations/{operation_id}",
    response_model=Operation,
    summary="Report progress (metadata) or the outcome (done with result or error); renews the lease",
)
def update_operation(operation_id: str, body: OperationPatch, store: StoreDep, site: SiteDep) -> Operation:
    return store.update_operation(operation_id, site, body)


@router.post(
    "/operations:heartbeat",
    response_model=HeartbeatResult,
    summary="Renew the leases of this site's operations; mark the site seen (with its load, if given)",
)
def heartbeat(body: Heartbeat, store: StoreDep, site: SiteDep) -> HeartbeatResult:
    states, missing = store.heartbeat(site, body.operation_ids, body.lease_seconds, body.site_status)
    mode = store.get_site(site.id)
    return HeartbeatResult(
        operations=states, missing=missing, site=SiteMode(paused=mode.paused, maintenance=mode.maintenance)
    )
