"""Publications: a developer drafts one of a workspace's latest released files; an output publisher
publishes it (then anyone reads it, logged in or not) or rejects it."""

from typing import Annotated

from fastapi import APIRouter, Body

from orchestrator.jobsite.api.deps import ActorDep, JobsiteDep
from orchestrator.jobsite.models import Publication, PublicationCreate
from orchestrator.runtime.api.deps import AfterSeq, Limit
from orchestrator.runtime.models import Page

router = APIRouter(prefix="/api", tags=["jobs site: publications"])
NOT_A_DRAFT = {409: {"description": "It is published or rejected already (NOT_A_DRAFT)"}}


@router.post(
    "/workspaces/{name}/publications",
    response_model=Publication,
    status_code=201,
    responses={409: {"description": "The workspace has no released files (NOTHING_RELEASED)"}},
    summary="Draft a publication of a workspace's latest released files (ProjectDeveloper)",
)
def create_publication(
    name: str, jobsite: JobsiteDep, actor: ActorDep, body: Annotated[PublicationCreate | None, Body()] = None
) -> Publication:
    return jobsite.create_publication(name, body or PublicationCreate(), actor)


@router.get(
    "/workspaces/{name}/publications",
    response_model=Page[Publication],
    summary="A workspace's publications: published ones to anyone, drafts to its members and publishers",
)
def list_publications(
    name: str, jobsite: JobsiteDep, actor: ActorDep, after_seq: AfterSeq = 0, limit: Limit = 100
) -> Page[Publication]:
    return jobsite.list_publications(name, actor, after_seq, limit)


@router.get("/publications/{publication_id}", response_model=Publication, summary="A publication and its files")
def get_publication(publication_id: str, jobsite: JobsiteDep, actor: ActorDep) -> Publication:
    return jobsite.get_publication(publication_id, actor)


@router.post(
    "/publications/{publication_id}:publish",
    response_model=Publication,
    responses=NOT_A_DRAFT,
    summary="Publish a draft for everyone (OutputPublisher)",
)
def publish(publication_id: str, jobsite: JobsiteDep, actor: ActorDep) -> Publication:
    return jobsite.decide_publication(publication_id, True, actor)


@router.post(
    "/publications/{publication_id}:reject",
    response_model=Publication,
    responses=NOT_A_DRAFT,
    summary="Reject a draft (OutputPublisher)",
)
def reject(publication_id: str, jobsite: JobsiteDep, actor: ActorDep) -> Publication:
    return jobsite.decide_publication(publication_id, False, actor)
