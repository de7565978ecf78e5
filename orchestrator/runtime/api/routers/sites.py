"""/sites: the Dagster deployments that claim jobs, and their client credentials (admins only: a
site's own short-lived token must not mint itself permanent credentials)."""

from fastapi import APIRouter, Response

from orchestrator.runtime.api.deps import AdminDep, AfterSeq, Limit, PrincipalDep, StoreDep
from orchestrator.runtime.models import Credentials, Page, Site, SiteClient, SiteCreate

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
