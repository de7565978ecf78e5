"""GA4GH DRS 1.2 views of objects: /ga4gh/drs/v1/objects/{id}, .../access/{access_id}, bulk lookup
(POST /ga4gh/drs/v1/objects, up to MAX_BULK ids), service-info.

DRS names checksum types by IANA's textual names ("sha-256"); our objects say "sha256". An access
method's type is the scheme the server is really reached by (http, or https behind a TLS proxy that
uvicorn trusts with --forwarded-allow-ips).
"""

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from orchestrator import __version__
from orchestrator.runtime.api.deps import PrincipalDep, StoreDep
from orchestrator.runtime.errors import Conflict, NotFound, PayloadTooLarge, RuntimeApiError
from orchestrator.runtime.models import Object
from orchestrator.runtime.store.objects import sees_restricted

router = APIRouter(prefix="/ga4gh/drs/v1", tags=["ga4gh-drs"])
ACCESS_ID = "content"
MAX_BULK = 1000
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
        "access_methods": [{"type": request.url.scheme, "access_id": ACCESS_ID}],
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
        "drs": {"maxBulkRequestLength": MAX_BULK},
    }


class BulkRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")  # passports and the like: this server has none to check
    bulk_object_ids: list[str] = Field(min_length=1, description=f"Up to {MAX_BULK} object ids.")


@router.post("/objects", summary="Bulk lookup: the DRS objects of many ids, and which could not be resolved")
def get_drs_objects(body: BulkRequest, request: Request, store: StoreDep, principal: PrincipalDep) -> dict:
    ids = list(dict.fromkeys(body.bulk_object_ids))
    if len(ids) > MAX_BULK:
        raise PayloadTooLarge("BULK_TOO_LARGE", f"{len(ids)} ids; ask for at most {MAX_BULK} at a time.")
    resolved, unresolved = [], {}
    for object_id in ids:
        try:
            resolved.append(drs_object(_ready(store, object_id, principal), request))
        except RuntimeApiError as exc:  # not found (or not for this caller), or no content yet
            unresolved.setdefault(exc.http_status, []).append(object_id)
    return {
        "summary": {"requested": len(ids), "resolved": len(resolved), "unresolved": len(ids) - len(resolved)},
        "resolved_drs_object": resolved,
        "unresolved_drs_objects": [
            {"error_code": code, "object_ids": found} for code, found in sorted(unresolved.items())
        ],
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
