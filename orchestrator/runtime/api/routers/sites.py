"""/sites: the Dagster deployments that claim jobs, and their client credentials."""
from fastapi import APIRouter

from orchestrator.runtime.api.deps import AdminDep, AfterSeq, Limit, PrincipalDep, StoreDep
from orchestrator.runtime.errors import PermissionDenied
from orchestrator.runtime.models import Credentials, Page, Site, SiteCreate

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


@router.post("/{site_id}:generateCredentials", response_model=Credentials, status_code=201,
             summary="A new client id and secret for the site (shown once)")
def generate_credentials(site_id: str, store: StoreDep, principal: PrincipalDep) -> Credentials:
    if not (principal.is_admin or (principal.kind == "site" and principal.id == site_id)):
        raise PermissionDenied("NOT_OWNER", "Only the site itself or an admin may create its credentials.")
    return store.generate_credentials(site_id)
