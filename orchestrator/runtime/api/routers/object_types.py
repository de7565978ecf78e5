"""/object_types: the kinds of object triggers can match."""

from orchestrator.runtime.api.routers.catalog import catalog_router
from orchestrator.runtime.models import ObjectType
from orchestrator.runtime.store import Store

router = catalog_router(
    "object_types", ObjectType, Store.put_object_type, Store.get_object_type, Store.list_object_types
)
