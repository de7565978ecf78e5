"""What the jobs site's routers inject: its store and who is asking (anonymous for public reads)."""

from typing import Annotated

from fastapi import Depends, Request

from orchestrator.jobsite.permissions import Actor
from orchestrator.jobsite.store import JobsiteStore
from orchestrator.runtime.api.deps import OptionalPrincipalDep


def get_jobsite(request: Request) -> JobsiteStore:
    return request.app.state.jobsite


JobsiteDep = Annotated[JobsiteStore, Depends(get_jobsite)]


def current_actor(jobsite: JobsiteDep, principal: OptionalPrincipalDep) -> Actor:
    return jobsite.actor(principal)


ActorDep = Annotated[Actor, Depends(current_actor)]


# What a create answers when the thing exists already (documented in OpenAPI with the error schema).
ALREADY_EXISTS = {
    409: {"description": "It exists already, or another request with this id asked for something else (ALREADY_EXISTS)"}
}
