"""The serving process: the runtime's API with the jobs site on top, in one app and one database.

Here, not in the runtime, because the runtime never imports the layers above it. `serve` migrates
both once, in the parent; each uvicorn worker builds its app with `app_from_env`.
"""

import uvicorn

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
    return create_runtime_app(
        store,
        more_routers=JOBSITE_ROUTERS,
        more_tasks=[OutboxSender(store, store.settings).run],
        state={"jobsite": jobsite},
    )


def app_from_env():
    """uvicorn's factory for each worker: the schema is already current, so no migration here."""
    return create_app(Store(Settings()))


def prepare(settings: Settings) -> None:
    """Migrate the runtime's and the jobs site's tables and register what the jobs site needs."""
    store = Store(settings)
    migrate.upgrade(store.writer)
    JobsiteStore.open(store)
    store.dispose()


def serve(host: str = "127.0.0.1", port: int = 8000, workers: int = 1, log_level: str = "info") -> None:
    prepare(Settings())
    uvicorn.run(
        "orchestrator.server:app_from_env", factory=True, host=host, port=port, workers=workers, log_level=log_level
    )
