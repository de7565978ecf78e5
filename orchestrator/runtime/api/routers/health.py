"""/healthz: liveness plus a database round trip, for load balancers and `orchestrator up`."""
from fastapi import APIRouter
from sqlalchemy import text

from orchestrator.runtime.api.deps import StoreDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz(store: StoreDep) -> dict:
    with store.read() as conn:
        conn.execute(text("SELECT 1"))
    return {"status": "ok", "database": store.writer.dialect.name}
