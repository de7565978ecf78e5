"""Dependencies the routers inject: the store, the caller (site or user) and pagination."""

from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from orchestrator.runtime.errors import PermissionDenied, Unauthenticated
from orchestrator.runtime.models import Principal
from orchestrator.runtime.store import Store

_bearer = HTTPBearer(auto_error=False, description="A token from POST /token")


def get_store(request: Request) -> Store:
    return request.app.state.store


def current_principal(
    store: Annotated[Store, Depends(get_store)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None:
        raise Unauthenticated("MISSING_TOKEN", "Send 'Authorization: Bearer <token>'; get a token from POST /token.")
    return store.authenticate(credentials.credentials)


def optional_principal(
    store: Annotated[Store, Depends(get_store)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal | None:
    """The caller, or None without a token (public reads); a bad token is still 401, never anonymous."""
    return None if credentials is None else store.authenticate(credentials.credentials)


def current_site(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    if principal.kind != "site":
        raise PermissionDenied("SITE_ONLY", "Only a site (a client_credentials token) may do this.")
    return principal


def current_user(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    if principal.kind != "user":
        raise PermissionDenied("USER_ONLY", "Only a person (a password token) may do this; sites may not.")
    return principal


def current_admin(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    if not principal.is_admin:
        raise PermissionDenied("ADMIN_ONLY", "Only an admin user may do this.")
    return principal


StoreDep = Annotated[Store, Depends(get_store)]
PrincipalDep = Annotated[Principal, Depends(current_principal)]
OptionalPrincipalDep = Annotated[Principal | None, Depends(optional_principal)]
SiteDep = Annotated[Principal, Depends(current_site)]
UserDep = Annotated[Principal, Depends(current_user)]
AdminDep = Annotated[Principal, Depends(current_admin)]
AfterSeq = Annotated[int, Query(ge=0, le=2**63 - 1, description="Return items with seq greater than this (a cursor).")]
BeforeSeq = Annotated[
    int | None,
    Query(
        ge=1,
        le=2**63 - 1,
        description="Newest first: return items with seq less than this (a cursor; "
        "pass a very large number, e.g. 9223372036854775807, for the newest).",
    ),
]
Limit = Annotated[int, Query(ge=1, le=1000)]
