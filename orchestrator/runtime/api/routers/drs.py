"""GA4GH DRS 1.2 views of objects: /ga4gh/drs/v1/objects/{id}, .../access/{access_id}, service-info.

DRS names checksum types by IANA's textual names ("sha-256"); our objects say "sha256".
"""

from fastapi import APIRouter, Request
from pydantic import BaseModel

from orchestrator import __version__
from orchestrator.runtime.api.deps import PrincipalDep, StoreDep
from orchestrator.runtime.errors import Conflict, NotFound
from orchestrator.runtime.models import Object
from orchestrator.runtime.store.objects import sees_restricted

router = APIRouter(prefix="/ga4gh/drs/v1", tags=["ga4gh-drs"])
ACCESS_ID = "content"
_IANA_NAMES = {"sha256": "sha-256", "sha512": "sha-512", "md5": "md5", "sha1": "sha-1"}


class AccessURL(BaseModel):
    url: str
    headers: list[str] = []


def drs_object(obj: Object, request: Request) -> dict:
    return {
        "id": obj.id,
        "name": obj.name,
        "self_uri": f"drs://{request.url.netloc}/{obj.id}",
        "size": obj.size,
        "created_time": obj.created_time.isoformat(),
        "mime_type": obj.mime_type,
        "description": obj.description,
        "checksums": [{"type": _IANA_NAMES.get(c.type, c.type), "checksum": c.checksum} for c in obj.checksums],
        "access_methods": [{"type": "https", "access_id": ACCESS_ID}],
        "aliases": obj.types,
    }


def _ready(store, object_id: str, principal) -> Object:
    obj = store.get_object(object_id, hide_restricted=not sees_restricted(principal))
    if obj.status != "ready":
        raise Conflict("CONTENT_NOT_UPLOADED", f"Object {object_id!r} has no content yet.")
    return obj


@router.get("/service-info")
def service_info(request: Request) -> dict:
    return {
        "id": f"org.orchestrator.{request.url.hostname}",
        "name": "Orchestrator runtime DRS",
        "type": {"group": "org.ga4gh", "artifact": "drs", "version": "1.2.0"},
        "organization": {"name": "Orchestrator", "url": str(request.base_url)},
        "version": __version__,
        "drs": {"maxBulkRequestLength": 1},
    }


@router.get("/objects/{object_id}")
def get_drs_object(object_id: str, request: Request, store: StoreDep, principal: PrincipalDep) -> dict:
    return drs_object(_ready(store, object_id, principal), request)


@router.get("/objects/{object_id}/access/{access_id}", response_model=AccessURL)
def get_access_url(
    object_id: str, access_id: str, request: Request, store: StoreDep, principal: PrincipalDep
) -> AccessURL:
    obj = _ready(store, object_id, principal)
    if access_id != ACCESS_ID:
        raise NotFound(
            "ACCESS_ID_NOT_FOUND", f"Object {object_id!r} has no access method {access_id!r}; use {ACCESS_ID!r}."
        )
    return AccessURL(
        url=str(request.url_for("get_content", object_id=obj.id)), headers=["Authorization: Bearer <your token>"]
    )
