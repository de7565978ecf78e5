"""/sites: the Dagster deployments that claim jobs, and their client credentials (admins only: a
site's own short-lived token must not mint itself permanent credentials); pause, resume and database
maintenance (the site itself, or admins); a site's status from its heartbeats (public, for monitors: 503
while the site is down)."""

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from orchestrator.runtime.api.deps import AdminDep, AfterSeq, Limit, PrincipalDep, StoreDep
from orchestrator.runtime.errors import PermissionDenied
from orchestrator.runtime.models import Credentials, Page, Principal, Site, SiteClient, SiteCreate, SiteStatus

router = APIRouter(prefix="/sites", tags=["sites"])


@router.post("", response_model=Site, status_code=201)
def create_site(body: SiteCreate, store: StoreDep, _: AdminDep) -> Site:
    return store.create_site(body)


@router.get("", response_model=Page[Site])
def list_sites(store: StoreDep, _: PrincipalDep, after_seq: AfterSeq = 0, limit: Limit = 100):
    return store.list_sites(after_seq, limit)


@router.get("/{site_id}", response_model=Site)
def get_site(site_id: str, store: StoreDep, _: PrincipalDep) -> Site:
    return store.get_site(site_id)


@router.get(
    "/{site_id}/status",
    response_model=SiteStatus,
    summary="Last seen, running and queued runs, paused; no token needed (for monitors)",
    responses={
        503: {
            "model": SiteStatus,
            "description": "The site is down (never seen, or not seen for site_down_after_seconds): the same "
            "status as a 200 would carry; or the database is unavailable (an error)",
        }
    },
)
def site_status(site_id: str, store: StoreDep, response: Response) -> SiteStatus:
    status = store.get_site_status(site_id)
    if not status.up:
        response.status_code = 503  # so a monitor that checks only the status code alerts
    response.headers["Cache-Control"] = "no-store"
    return status


def _the_site_or_an_admin(site_id: str, principal: PrincipalDep) -> Principal:
    """A site's operator runs `orchestrator site pause` with the site's own credentials; admins may too."""
    if not (principal.is_admin or (principal.kind == "site" and principal.id == site_id)):
        raise PermissionDenied("SITE_OR_ADMIN_ONLY", "Only this site itself, or an admin, may change its mode.")
    return principal


SiteOrAdminDep = Annotated[Principal, Depends(_the_site_or_an_admin)]


@router.post(
    "/{site_id}:pause", response_model=Site, summary="Claim nothing new; running jobs finish (the site, admins)"
)
def pause_site(site_id: str, store: StoreDep, _: SiteOrAdminDep) -> Site:
    return store.set_site_paused(site_id, True)


@router.post("/{site_id}:resume", response_model=Site, summary="Claim jobs again (the site, admins)")
def resume_site(site_id: str, store: StoreDep, _: SiteOrAdminDep) -> Site:
    return store.set_site_paused(site_id, False)


@router.post(
    "/{site_id}:startMaintenance",
    response_model=Site,
    summary="Database maintenance: running database actions stop and wait, others go on (the site, admins)",
)
def start_maintenance(site_id: str, store: StoreDep, _: SiteOrAdminDep) -> Site:
    return store.set_site_maintenance(site_id, True)


@router.post("/{site_id}:endMaintenance", response_model=Site, summary="Database actions run again (the site, admins)")
def end_maintenance(site_id: str, store: StoreDep, _: SiteOrAdminDep) -> Site:
    return store.set_site_maintenance(site_id, False)


@router.post(
    "/{site_id}:generateCredentials",
    response_model=Credentials,
    status_code=201,
    summary="A new client id and secret for the site (shown once)",
)
def generate_credentials(site_id: str, store: StoreDep, _: AdminDep) -> Credentials:
    return store.generate_credentials(site_id)


@router.get(
    "/{site_id}/credentials", response_model=Page[SiteClient], summary="The site's client ids (never their secrets)"
)
def list_credentials(site_id: str, store: StoreDep, _: AdminDep, after_seq: AfterSeq = 0, limit: Limit = 100):
    return store.list_credentials(site_id, after_seq, limit)


@router.delete(
    "/{site_id}/credentials/{client_id}",
    status_code=204,
    response_class=Response,
    summary="Revoke a client: it can get no new token, and the tokens it holds stop working",
)
def revoke_credentials(site_id: str, client_id: str, store: StoreDep, _: AdminDep) -> Response:
    store.revoke_credentials(site_id, client_id)
    return Response(status_code=204)
