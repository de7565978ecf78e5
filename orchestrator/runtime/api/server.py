"""Serving the API with uvicorn: migrate once in the parent, then start the workers."""

import uvicorn

from orchestrator.runtime import migrate
from orchestrator.runtime.api.app import create_app
from orchestrator.runtime.store import Store
from orchestrator.settings import Settings


def app_from_env():
    """uvicorn's factory for each worker: the schema is already current, so no migration here."""
    return create_app(Store(Settings()))


def serve(host: str = "127.0.0.1", port: int = 8000, workers: int = 1, log_level: str = "info") -> None:
    store = Store(Settings())
    migrate.upgrade(store.writer)
    store.dispose()
    uvicorn.run(
        "orchestrator.runtime.api.server:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
    )
