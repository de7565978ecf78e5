"""/triggers: object type -> workflow (+ the job config a trigger-made job gets)."""

from orchestrator.runtime.api.routers.catalog import catalog_router
from orchestrator.runtime.models import Trigger
from orchestrator.runtime.store import Store

router = catalog_router("triggers", Trigger, Store.put_trigger, Store.get_trigger, Store.list_triggers)
