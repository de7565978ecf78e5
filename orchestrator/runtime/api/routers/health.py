"""/healthz: liveness plus a database round trip, for load balancers and `orchestrator up`."""

from fastapi import APIRouter

from orchestrator.runtime.api.deps import StoreDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz(store: StoreDep) -> dict:
    return {"status": "ok", "database": store.ping()}
