"""The runtime's store: one class over SQLAlchemy Core, the same statements on SQLite and PostgreSQL.

Split by resource (catalog, objects, jobs and operations, auth, the metadata store and its changesheets); `Store.open` migrates the
database to the newest schema first.
"""

from orchestrator.runtime import migrate
from orchestrator.runtime.blobs import BlobStore
from orchestrator.runtime.store.auth import AuthStore
from orchestrator.runtime.store.catalog import CatalogStore
from orchestrator.runtime.store.changesheets import ChangesheetStore
from orchestrator.runtime.store.jobs import JobStore, job_id_for
from orchestrator.runtime.store.objects import ObjectStore
from orchestrator.settings import Settings


class Store(CatalogStore, ObjectStore, JobStore, AuthStore, ChangesheetStore):
    def __init__(self, settings: Settings):
        super().__init__(settings)
        self.blobs = BlobStore(settings.blob_dir, settings.max_object_bytes)

    @classmethod
    def open(cls, settings: Settings | None = None) -> "Store":
        store = cls(settings or Settings())
        migrate.upgrade(store.writer)
        return store


__all__ = ["Store", "job_id_for"]
