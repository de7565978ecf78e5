"""Dagster resources of a site: the runtime it talks to and its own settings, both from EnvVars."""
import os
from functools import lru_cache

import dagster as dg

from orchestrator.runtime.client import Credentials, RuntimeClient


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
    lease_seconds: int = 60
    object_batch: int = 200


class PipelineResource(dg.ConfigurableResource):
    """Where a site keeps pipeline workspaces and how it runs actions (images map via ORCHESTRATOR_IMAGE_MAP)."""

    workspaces_dir: str
    concurrency: int = 2
    action_timeout_seconds: float = 0  # 0: no limit
    action_memory_bytes: int = 0  # 0: no limit


def runtime_from_env() -> RuntimeResource:
    return RuntimeResource(url=dg.EnvVar("ORCHESTRATOR_URL"), client_id=dg.EnvVar("ORCHESTRATOR_CLIENT_ID"),
                           client_secret=dg.EnvVar("ORCHESTRATOR_CLIENT_SECRET"))


def pipeline_from_env() -> PipelineResource:
    home = os.environ.get("ORCHESTRATOR_HOME", ".orchestrator")
    return PipelineResource(workspaces_dir=os.environ.get("ORCHESTRATOR_WORKSPACES_DIR", os.path.join(home, "workspaces")),
                            concurrency=int(os.environ.get("ORCHESTRATOR_PIPELINE_CONCURRENCY", "2")),
                            action_timeout_seconds=float(os.environ.get("ORCHESTRATOR_ACTION_TIMEOUT_SECONDS", "0")),
                            action_memory_bytes=int(os.environ.get("ORCHESTRATOR_ACTION_MEMORY_BYTES", "0")))


def site_from_env() -> SiteResource:
    # Tunables have defaults, so only the site's identity must be set; EnvVar would demand every one.
    return SiteResource(site_id=dg.EnvVar("ORCHESTRATOR_SITE_ID"),
                        max_runs_per_workflow=int(os.environ.get("ORCHESTRATOR_MAX_RUNS_PER_WORKFLOW", "4")),
                        claim_ahead=int(os.environ.get("ORCHESTRATOR_CLAIM_AHEAD", "0")),
                        lease_seconds=int(os.environ.get("ORCHESTRATOR_SITE_LEASE_SECONDS", "60")))
