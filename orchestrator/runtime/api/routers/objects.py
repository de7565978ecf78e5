"""/objects: register an object (metadata with its sha256), upload its bytes, read them back."""

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from orchestrator.runtime.api.deps import AfterSeq, BeforeSeq, Limit, PrincipalDep, StoreDep
from orchestrator.runtime.errors import Conflict
from orchestrator.runtime.models import Object, ObjectCreate, Page
from orchestrator.runtime.store.objects import sees_restricted

router = APIRouter(prefix="/objects", tags=["objects"])


@router.post(
    "",
    status_code=201,
    response_model=Object,
    summary="Register an object; then PUT its bytes to /objects/{id}/content (unless status is already ready)",
)
def create_object(body: ObjectCreate, store: StoreDep, principal: PrincipalDep) -> Object:
    return store.create_object(body, principal)


@router.put(
    "/{object_id}/content",
    response_model=Object,
    openapi_extra={
        "requestBody": {"content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}
    },
)
async def upload_content(object_id: str, request: Request, store: StoreDep, _: PrincipalDep) -> Object:
    """The bytes must match the declared size and sha256, else nothing is stored (422, 413 over the limit)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit():
        store.check_upload_size(int(declared))
    return await store.upload_content(object_id, request.stream())


@router.get("", response_model=Page[Object])
def list_objects(
    store: StoreDep,
    principal: PrincipalDep,
    after_seq: AfterSeq = 0,
    before_seq: BeforeSeq = None,
    limit: Limit = 100,
    types: Annotated[list[str] | None, Query(description="Only objects with any of these types.")] = None,
):
    hide = not sees_restricted(principal)
    return store.list_objects(after_seq, limit, types, before_seq=before_seq, hide_restricted=hide)


@router.get("/{object_id}", response_model=Object)
def get_object(object_id: str, store: StoreDep, principal: PrincipalDep) -> Object:
    return store.get_object(object_id, hide_restricted=not sees_restricted(principal))


async def content_response(store, object_id: str, principal=None) -> Response:
    """The object's bytes; a person (`principal` not a site or admin) finds no object of a restricted type."""
    hide = principal is not None and not sees_restricted(principal)
    obj = await run_in_threadpool(store.get_object, object_id, hide)
    if obj.status != "ready":
        raise Conflict(
            "CONTENT_NOT_UPLOADED", f"Object {object_id!r} has no content yet; PUT it to /objects/{object_id}/content."
        )
    return FileResponse(store.blob_path_of(obj), media_type=obj.mime_type, filename=obj.name)


@router.get(
    "/{object_id}/content", response_class=FileResponse, responses={200: {"content": {"application/octet-stream": {}}}}
)
async def get_content(object_id: str, store: StoreDep, principal: PrincipalDep) -> Response:
    return await content_response(store, object_id, principal)
