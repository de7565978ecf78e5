"""/metadata: the metadata store. Anyone logged in reads collections, their documents by cursor pages
(with `filter`, equality on top-level fields) and one document by id, checks and submits changesheets; a
site ingests a document set or applies a changesheet for an operation it holds (the metadata-in and
apply-changesheet workflows), and admins may."""

import json
from typing import Annotated

from fastapi import APIRouter, Query, Request

from orchestrator.runtime.api.deps import AfterSeq, Limit, PrincipalDep, StoreDep
from orchestrator.runtime.errors import InvalidArgument, PermissionDenied
from orchestrator.runtime.models import (
    ApplyChangesheet,
    ChangesheetCheck,
    ChangesheetResult,
    IngestRequest,
    IngestResult,
    MetadataCollection,
    MetadataDocument,
    Object,
    Page,
)

router = APIRouter(tags=["metadata"])
TSV_BODY = {
    "requestBody": {
        "required": True,
        "content": {"text/tab-separated-values": {"schema": {"type": "string"}}},
        "description": "A changesheet: a header line `id, action, attribute, value`, then a row per change.",
    }
}
Schema = Annotated[str, Query(max_length=100, description="The JSON Schema the changed documents must pass.")]
DEFAULT_SCHEMA = "study-metadata"
Name = Annotated[str, Query(min_length=1, max_length=500, description="The stored object's name.")]

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
    "/metadata/changesheets:validate",
    response_model=ChangesheetCheck,
    summary="Check a changesheet (TSV: id, action, attribute, value): every problem, or what it would change",
    openapi_extra=TSV_BODY,
)
async def validate_changesheet(request: Request, store: StoreDep, _: PrincipalDep, schema: Schema = DEFAULT_SCHEMA):
    return store.check_changesheet(await request.body(), schema)


@router.post(
    "/metadata/changesheets:submit",
    response_model=Object,
    status_code=201,
    summary="Submit a valid changesheet: stored as a `metadata-changesheet` object, whose trigger applies it",
    responses={422: {"description": "INVALID_CHANGESHEET, with every problem"}},
    openapi_extra=TSV_BODY,
)
async def submit_changesheet(
    request: Request,
    store: StoreDep,
    principal: PrincipalDep,
    schema: Schema = DEFAULT_SCHEMA,
    name: Name = "changesheet.tsv",
):
    return store.submit_changesheet(await request.body(), schema, name, principal)


@router.post(
    "/metadata/changesheets:apply",
    response_model=ChangesheetResult,
    summary="Apply a changesheet object, every row or none (a site, for an operation it holds; admins)",
    responses={422: {"description": "INVALID_CHANGESHEET: it no longer applies; nothing changed"}},
)
def apply_changesheet(body: ApplyChangesheet, store: StoreDep, principal: PrincipalDep) -> ChangesheetResult:
    _site_or_admin(principal)
    return store.apply_changesheet(body, principal)


@router.post(
    "/metadata:ingest",
    response_model=IngestResult,
    summary="Ingest a document set, every document or none (a site, for an operation it holds; admins)",
    responses={409: {"description": "DOCUMENTS_EXIST (naming them) without replace; OPERATION_DONE"}},
)
def ingest(body: IngestRequest, store: StoreDep, principal: PrincipalDep) -> IngestResult:
    _site_or_admin(principal)
    return store.ingest(body, principal)


def _site_or_admin(principal) -> None:
    if principal.kind != "site" and not principal.is_admin:
        raise PermissionDenied(
            "SITE_OR_ADMIN_ONLY", "The metadata store is written by a site's workflow, or by an admin."
        )


def _parse_filter(raw: str | None) -> dict:
    if not raw:
        return {}
    try:
        parsed = json.loads(raw)
    except (ValueError, RecursionError):
        parsed = None
    if not isinstance(parsed, dict):
        raise InvalidArgument(
            "INVALID_FILTER", 'filter is a JSON object of top-level fields and values, e.g. {"env_medium": "soil"}.'
        )
    return parsed
