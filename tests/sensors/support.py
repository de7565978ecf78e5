"""What the site's sensor and workflow tests share: a fresh Dagster instance per test (copied from one
migrated template, as migrating a new one costs ~2 s), a registered site with its resources, helpers."""

import atexit
import copy
import functools
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.remote_origin import InProcessCodeLocationOrigin, RemoteJobOrigin, RemoteRepositoryOrigin
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

from orchestrator.catalog import register_catalog
from orchestrator.resources import RuntimeResource, SiteResource
from orchestrator.runtime.client import RuntimeClient
from orchestrator.workflows import WORKFLOWS
from orchestrator.workflows.common import JOB_TAG, OPERATION_TAG, SITE_TAG, WORKFLOW_TAG
from orchestrator.workflows.triggers import load_triggers

METADATA_IN = WORKFLOWS["metadata-in-1.0.0"]
# Where the daemon would load the job from; Dagster requires one for a QUEUED run.
ORIGIN = RemoteJobOrigin(
    RemoteRepositoryOrigin(
        InProcessCodeLocationOrigin(LoadableTargetOrigin(module_name="orchestrator.definitions")), "__repository__"
    ),
    METADATA_IN.job.name,
)


def _instance(home: Path):
    # One event-log database for all runs: the default makes (and migrates) one per run, ~1 s each.
    events = {
        "module": "dagster._core.storage.event_log",
        "class": "ConsolidatedSqliteEventLogStorage",
        "config": {"base_dir": str(home / "events")},
    }
    return dg.instance_for_test(overrides={"event_log_storage": events}, temp_dir=str(home))


@functools.cache
def _instance_template() -> Path:
    path = Path(tempfile.mkdtemp(prefix="dagster-template-"))
    atexit.register(shutil.rmtree, path, True)
    with _instance(path):
        pass
    return path


@pytest.fixture
def instance(tmp_path):
    home = tmp_path / "dagster-home"
    shutil.copytree(_instance_template(), home)
    with _instance(home) as instance:
        yield instance


@dataclass
class Site:
    id: str
    runtime: RuntimeResource

    @property
    def client(self) -> RuntimeClient:
        """The very client the sensors use (one per credentials), so tests can watch its requests."""
        return self.runtime.client()

    def resources(self, **settings) -> dict:
        return {"runtime": self.runtime, "site": SiteResource(site_id=self.id, **settings)}

    def tags(self, job_id: str, operation_id: str, workflow_id: str = METADATA_IN.id) -> dict:
        return {JOB_TAG: job_id, OPERATION_TAG: operation_id, WORKFLOW_TAG: workflow_id, SITE_TAG: self.id}


def site_named(make_site, server, site_id: str, capabilities: list[str] = ()) -> Site:
    creds = make_site(site_id, capabilities).credentials
    return Site(site_id, RuntimeResource(url=server, client_id=creds.client_id, client_secret=creds.client_secret))


@pytest.fixture
def registered(admin):
    """The catalog of the real trigger files and workflow registry, registered as `orchestrator register` does."""
    register_catalog(admin, load_triggers())
    return admin


@pytest.fixture
def site(registered, make_site, server) -> Site:
    return site_named(make_site, server, "site-a")


def tick(sensor: dg.SensorDefinition, instance: dg.DagsterInstance, site: Site, cursor: str | None = None, **settings):
    """One evaluation of `sensor` as the daemon would run it; returns its SensorResult or SkipReason."""
    definitions = dg.Definitions(resources=site.resources(**settings))  # where a site's sensors find theirs
    with dg.build_sensor_context(instance=instance, cursor=cursor, definitions=definitions) as context:
        return sensor(context)


def submit(client: RuntimeClient, n: int, object_type: str = "metadata-in", tag: str = "doc") -> list[dict]:
    return [
        client.create_object(f'{{"{tag}": {i}}}'.encode(), name=f"{tag}-{i}.json", types=[object_type])
        for i in range(n)
    ]


class RequestLog:
    """Records (method, path, json body) of every HTTP request a RuntimeClient sends."""

    def __init__(self, client: RuntimeClient, monkeypatch):
        self.calls: list[tuple[str, str, object]] = []
        send = client.session.request

        def recording(method, url, **kwargs):
            # a copy: the caller may go on mutating the object it sent
            self.calls.append((method, url.removeprefix(client.base_url), copy.deepcopy(kwargs.get("json"))))
            return send(method, url, **kwargs)

        monkeypatch.setattr(client.session, "request", recording)

    def to(self, method: str, path: str) -> list:
        return [body for m, p, body in self.calls if m == method and p == path]

    def writes(self) -> list[tuple[str, str]]:
        return [(m, p) for m, p, _ in self.calls if m in ("POST", "PATCH", "PUT") and p != "/token"]


def open_jobs(admin: RuntimeClient, n: int, workflow_id: str = METADATA_IN.id) -> list[str]:
    """`n` open jobs of `workflow_id`, each on its own new metadata-in object; their ids in creation order."""
    return [
        admin.create_job(workflow_id, [obj["id"]], config={"schema": "study-metadata"})["id"]
        for obj in submit(admin, n, tag=f"input-{workflow_id}")
    ]


def add_run(instance: dg.DagsterInstance, tags: dict, status: dg.DagsterRunStatus) -> dg.DagsterRun:
    """A run of the metadata_in job in `status`, as a sensor's RunRequest would have made it."""
    return instance.create_run_for_job(job_def=METADATA_IN.job, status=status, tags=tags, remote_job_origin=ORIGIN)
