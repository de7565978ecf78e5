"""/workflows: what a job runs (a Dagster job at a site) and the capabilities a site needs for it."""

from orchestrator.runtime.api.routers.catalog import catalog_router
from orchestrator.runtime.models import Workflow
from orchestrator.runtime.store import Store

router = catalog_router("workflows", Workflow, Store.put_workflow, Store.get_workflow, Store.list_workflows)
