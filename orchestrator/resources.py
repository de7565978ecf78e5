"""Dagster resources of a site: the runtime it talks to (identity and secret from EnvVars, which the
Dagster UI never shows) and the site's own tunables, taken from the one Settings object."""

from functools import lru_cache

import dagster as dg

from orchestrator.pipeline.databases import DATABASES_ENV
from orchestrator.runtime.client import Credentials, RuntimeClient
from orchestrator.settings import Settings


@lru_cache(maxsize=8)
def _client(url: str, client_id: str, client_secret: str) -> RuntimeClient:
    # One client (and so one token) per code-server process, not a new login every sensor tick.
    return RuntimeClient(url, Credentials(client_id=client_id, client_secret=client_secret))


class RuntimeResource(dg.ConfigurableResource):
    """The central runtime's URL and this site's client credentials."""

    url: str
    client_id: str
    client_secret: str

    def client(self) -> RuntimeClient:
        return _client(self.url, self.client_id, self.client_secret)


class SiteResource(dg.ConfigurableResource):
    """How this site behaves: its id, how many runs per workflow it holds at once, lease length."""

    site_id: str
    max_runs_per_workflow: int = 4
    # Extra claims per workflow that wait in Dagster's run queue. Dagster's sensor daemon ticks at most
    # every 5 s, so a site holding only its free slots leaves them idle until the next tick; a few
    # claimed ahead keep them busy, at the cost of holding that many jobs other sites could have run.
    claim_ahead: int = 0
    # The new-objects sensor claims and launches the jobs it opens at once, instead of leaving them to the
    # claim sensors' next pass (up to 5 s later). Off: this site opens jobs for other sites to claim.
    claim_on_open: bool = True
    lease_seconds: int = 60
    object_batch: int = 200
    run_max_runtime_seconds: int = 0  # the runs' `dagster/max_runtime` tag; 0: none


class PipelineResource(dg.ConfigurableResource):
    """Where a site keeps pipeline workspaces and how it runs actions."""

    workspaces_dir: str
    jobs_dir: str = ""  # where action runs live, for `orchestrator site` commands; "" : temporary directories
    concurrency: int = 2
    max_db_workers: int = 2  # 0: no limit; see orchestrator/workflows/database_slots.py
    action_timeout_seconds: float = 0  # 0: no limit
    action_memory_bytes: int = 0  # 0: no limit
    image_map: str = ""  # JSON {image: argv prefix} on top of the defaults (orchestrator/pipeline/images.py)
    # JSON {name: url} (orchestrator/pipeline/databases.py). URLs hold passwords: from settings it is an
    # EnvVar, which the Dagster UI shows by name only.
    databases: str = ""


def runtime_from_env() -> RuntimeResource:
    return RuntimeResource(
        url=dg.EnvVar("ORCHESTRATOR_URL"),
        client_id=dg.EnvVar("ORCHESTRATOR_CLIENT_ID"),
        client_secret=dg.EnvVar("ORCHESTRATOR_CLIENT_SECRET"),
    )


def pipeline_from_settings(settings: Settings) -> PipelineResource:
    return PipelineResource(
        workspaces_dir=str(settings.workspaces_dir),
        jobs_dir=str(settings.jobs_dir),
        concurrency=settings.pipeline_concurrency,
        max_db_workers=settings.max_db_workers,
        action_timeout_seconds=settings.action_timeout_seconds,
        action_memory_bytes=settings.action_memory_bytes,
        image_map=settings.image_map,
        databases=dg.EnvVar(DATABASES_ENV) if settings.databases else "",
    )


def site_from_settings(settings: Settings) -> SiteResource:
    # Only the site's identity is an EnvVar (it must be set); the tunables have defaults.
    return SiteResource(
        site_id=dg.EnvVar("ORCHESTRATOR_SITE_ID"),
        max_runs_per_workflow=settings.max_runs_per_workflow,
        claim_ahead=settings.claim_ahead,
        claim_on_open=settings.claim_on_open,
        lease_seconds=settings.site_lease_seconds,
        run_max_runtime_seconds=settings.run_max_runtime_seconds,
    )
