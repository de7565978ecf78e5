"""The jobs site's store: its own tables in the runtime's database, reached through the runtime's
Store (its engines and its functions); `JobsiteStore.open` migrates them and hooks request
tracking into the runtime's job changes."""

from pathlib import Path

from orchestrator.jobsite import migrate
from orchestrator.jobsite.git import GitCache
from orchestrator.jobsite.store.projects import ProjectStore
from orchestrator.jobsite.store.releases import ReleaseStore
from orchestrator.jobsite.store.requests import JOB_ID_PREFIX, RequestStore
from orchestrator.jobsite.store.tokens import TokenStore
from orchestrator.jobsite.sync import on_job_change
from orchestrator.runtime.store import Store


class JobsiteStore(ProjectStore, RequestStore, TokenStore, ReleaseStore):
    def __init__(self, runtime: Store):
        super().__init__(runtime)
        self.git = GitCache(Path(self.settings.git_cache_dir))
        public_url = self.settings.public_url
        runtime.add_job_listener(JOB_ID_PREFIX, lambda conn, job, op: on_job_change(conn, job, op, public_url))

    @classmethod
    def open(cls, runtime: Store) -> "JobsiteStore":
        migrate.upgrade(runtime.writer)
        jobsite = cls(runtime)
        jobsite.ensure_catalog()
        jobsite.ensure_release_type()
        return jobsite


__all__ = ["JobsiteStore"]
