"""The airlock's FastAPI app and `orchestrator airlock serve`: the JSON API under /api/, the same error
bodies and request limits as the runtime's, and /healthz."""

from pathlib import Path

from fastapi_offline import FastAPIOffline
from starlette.staticfiles import StaticFiles

from orchestrator import __version__
from orchestrator.airlock import pages
from orchestrator.airlock.api import release_requests, session, workspaces
from orchestrator.airlock.service import Airlock
from orchestrator.runtime.api.errors import install_error_handlers
from orchestrator.runtime.api.guard import RequestGuard

ROUTERS = (session.router, workspaces.router, release_requests.router)
STATIC = Path(__file__).parents[1] / "web" / "static"


def create_app(airlock: Airlock) -> FastAPIOffline:
    app = FastAPIOffline(
        title="Orchestrator airlock",
        version=__version__,
        description="Level 4 files at this site, and their review and release.",
    )
    app.state.airlock = airlock
    install_error_handlers(app)
    app.add_middleware(RequestGuard, max_body_bytes=airlock.settings.max_request_bytes)
    for router in ROUTERS:
        app.include_router(router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="airlock-static")

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict:
        return {"status": "ok", "site": airlock.settings.site_id}

    return app


def app_from_env() -> FastAPIOffline:
    from orchestrator import startup
    from orchestrator.settings import Settings

    startup.start()  # uvicorn may import this in a fresh process: .env and LOGLEVEL again
    return create_app(Airlock.open(Settings()))
