"""/metadata: the metadata store. Anyone logged in reads collections, their documents by cursor pages
(with `filter`, equality on top-level fields) and one document by id; a site ingests a document set for
an operation it holds (the metadata-in workflow), and admins may."""

import json
from typing import Annotated

from fastapi import APIRouter, Query

from orchestrator.runtime.api.deps import AfterSeq, Limit, PrincipalDep, StoreDep
from orchestrator.runtime.errors import InvalidArgument, PermissionDenied
from orchestrator.runtime.models import IngestRequest, IngestResult, MetadataCollection, MetadataDocument, Page

router = APIRouter(tags=["metadata"])

Filter = Annotated[
    str | None,
    Query(
        max_length=4000,
        description='A JSON object of top-level fields and the values they must equal, e.g. {"env_medium": "soil"}.',
    ),
]


@router.get("/metadata", response_model=list[MetadataCollection], summary="The collections and their sizes")
def list_collections(store: StoreDep, _: PrincipalDep) -> list[MetadataCollection]:
    return store.list_collections()


@router.get("/metadata/{collection}", response_model=Page[MetadataDocument], summary="A collection's documents")
def list_documents(
    collection: str,
    store: StoreDep,
    _: PrincipalDep,
    after_seq: AfterSeq = 0,
    limit: Limit = 100,
    filter: Filter = None,
):
    return store.list_documents(collection, after_seq, limit, _parse_filter(filter))


@router.get("/metadata/{collection}/{document_id}", response_model=MetadataDocument, summary="One document by id")
def get_document(collection: str, document_id: str, store: StoreDep, _: PrincipalDep) -> MetadataDocument:
    return store.get_document(collection, document_id)


@router.post(
    "/metadata:ingest",
    response_model=IngestResult,
    summary="Ingest a document set, every document or none (a site, for an operation it holds; admins)",
    responses={409: {"description": "DOCUMENTS_EXIST (naming them) without replace; OPERATION_DONE"}},
)
def ingest(body: IngestRequest, store: StoreDep, principal: PrincipalDep) -> IngestResult:
    if principal.kind != "site" and not principal.is_admin:
        raise PermissionDenied("SITE_OR_ADMIN_ONLY", "Documents are ingested by a site's workflow, or by an admin.")
    return store.ingest(body, principal)


def _parse_filter(raw: str | None) -> dict:
    if not raw:
        return {}
    try:
        parsed = json.loads(raw)
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        raise InvalidArgument(
            "INVALID_FILTER", 'filter is a JSON object of top-level fields and values, e.g. {"env_medium": "soil"}.'
        )
    return parsed
