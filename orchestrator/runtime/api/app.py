"""Assembles the FastAPI app: routers, error handlers, docs served locally, and the lease sweeper.

The sweeper closes operations whose lease ran out, so a site that died returns its jobs to the
queue even if nobody touches them; claims and reports also expire overdue leases on the spot.
"""

import asyncio
import logging
from collections.abc import Callable, Coroutine, Sequence
from contextlib import asynccontextmanager, suppress
from typing import Any

from fastapi import APIRouter
from fastapi_offline import FastAPIOffline
from starlette.concurrency import run_in_threadpool

from orchestrator import __version__
from orchestrator.runtime.api.errors import install_error_handlers
from orchestrator.runtime.api.guard import RequestGuard
from orchestrator.runtime.api.openapi import install_openapi
from orchestrator.runtime.api.routers import (
    drs,
    health,
    home,
    jobs,
    metadata,
    object_types,
    objects,
    operations,
    sites,
    tokens,
    triggers,
    workflows,
)
from orchestrator.runtime.store import Store

log = logging.getLogger(__name__)
# Tried in this order: the sites' hot paths (claims, reports, heartbeats) first.
ROUTERS = (jobs, operations, sites, tokens, object_types, workflows, triggers, objects, metadata, drs, health, home)


async def _sweep_leases(store: Store) -> None:
    while True:
        await asyncio.sleep(store.settings.lease_sweep_seconds)
        try:
            expired = await run_in_threadpool(store.expire_leases)
            if expired:
                log.info("lease expired on %d operation(s); their jobs are open again", expired)
        except Exception:  # a database blip must not kill the sweeper
            log.exception("lease sweep failed; retrying")


def create_app(
    store: Store,
    more_routers: Sequence[APIRouter] = (),
    more_tasks: Sequence[Callable[[], Coroutine[Any, Any, None]]] = (),
    state: dict[str, Any] | None = None,
    home_page: bool = True,
) -> FastAPIOffline:
    """The runtime's app; layers above it (the jobs site) add their routers, background loops and state,
    and may serve their own `/` (home_page=False)."""

    @asynccontextmanager
    async def lifespan(app):
        tasks = [asyncio.create_task(_sweep_leases(store))] + [asyncio.create_task(task()) for task in more_tasks]
        yield
        for task in tasks:
            task.cancel()
        for task in tasks:
            with suppress(asyncio.CancelledError):
                await task

    app = FastAPIOffline(
        title="Orchestrator runtime",
        version=__version__,
        lifespan=lifespan,
        description="Objects, triggers, jobs, atomic claims and leased operations.",
    )
    app.state.store = store
    for name, value in (state or {}).items():
        setattr(app.state, name, value)
    install_error_handlers(app)
    app.add_middleware(RequestGuard, max_body_bytes=store.settings.max_request_bytes)
    routers = [module.router for module in ROUTERS if home_page or module is not home] + list(more_routers)
    for router in routers:
        app.include_router(router)
    install_openapi(app, routers)
    return app
