"""The serving process: the runtime's API with the jobs site on top, in one app and one database.

Here, not in the runtime, because the runtime never imports the layers above it. `serve` migrates
both once, in the parent; each uvicorn worker builds its app with `app_from_env`.
"""

from pathlib import Path

import uvicorn
from starlette.staticfiles import StaticFiles

from orchestrator import startup
from orchestrator.jobsite.api import (
    people,
    projects,
    publications,
    released_files,
    releases,
    requests,
    tokens,
    workspaces,
)
from orchestrator.jobsite.mail import OutboxSender
from orchestrator.jobsite.store import JobsiteStore
from orchestrator.runtime import migrate
from orchestrator.runtime.api.app import create_app as create_runtime_app
from orchestrator.runtime.store import Store
from orchestrator.settings import Settings
from orchestrator.web import outputs, pages, workspace_forms

STATIC = Path(pages.__file__).parent / "static"

JOBSITE_ROUTERS = (
    projects.router,
    workspaces.router,
    requests.router,
    people.router,
    tokens.router,
    releases.router,
    released_files.router,
    publications.router,
)


def create_app(store: Store, jobsite: JobsiteStore | None = None):
    jobsite = jobsite or JobsiteStore(store)
    app = create_runtime_app(
        store,
        more_routers=JOBSITE_ROUTERS,
        more_tasks=[OutboxSender(store, store.settings).run],
        state={"jobsite": jobsite},
        home_page=False,  # `/` is the jobs site's projects page
    )
    app.include_router(pages.router)
    app.include_router(outputs.router)
    app.include_router(workspace_forms.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="web-static")
    return app


def app_from_env():
    """uvicorn's factory for each worker: the schema is already current, so no migration here."""
    startup.start()  # a worker process of `--workers N` starts afresh: .env and LOGLEVEL again
    return create_app(Store(Settings()))


def prepare(settings: Settings) -> None:
    """Migrate the runtime's and the jobs site's tables and register what the jobs site needs."""
    store = Store(settings)
    migrate.upgrade(store.writer)
    JobsiteStore.open(store)
    store.dispose()


def serve(
    host: str = "127.0.0.1", port: int = 8000, workers: int = 1, log_level: str = "info", access_log: bool = False
) -> None:
    prepare(Settings())
    uvicorn.run(
        "orchestrator.server:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        access_log=access_log,
    )
