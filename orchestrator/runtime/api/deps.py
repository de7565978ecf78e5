"""Dependencies the routers inject: the store, the caller (site or user) and pagination.

Those that touch no database are `async def`: FastAPI runs a plain `def` dependency in the thread
pool, a hop that cost about as much as a claim's own SQL (bench/claims.py)."""

from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from orchestrator.runtime.errors import PermissionDenied, Unauthenticated
from orchestrator.runtime.models import Principal
from orchestrator.runtime.store import Store
from orchestrator.runtime.store.auth import require_site

_bearer = HTTPBearer(auto_error=False, description="A token from POST /token")


async def get_store(request: Request) -> Store:
    return request.app.state.store


async def bearer_token(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> str:
    """The caller's token unchecked, for a route whose store call checks it in its own transaction."""
    if credentials is None:
        raise Unauthenticated("MISSING_TOKEN", "Send 'Authorization: Bearer <token>'; get a token from POST /token.")
    return credentials.credentials


def current_principal(
    store: Annotated[Store, Depends(get_store)], token: Annotated[str, Depends(bearer_token)]
) -> Principal:
    return store.authenticate(token)


def optional_principal(
    store: Annotated[Store, Depends(get_store)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal | None:
    """The caller, or None without a token (public reads); a bad token is still 401, never anonymous."""
    return None if credentials is None else store.authenticate(credentials.credentials)


async def current_site(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    return require_site(principal)


async def current_user(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    if principal.kind != "user":
        raise PermissionDenied("USER_ONLY", "Only a person (a password token) may do this; sites may not.")
    return principal


async def current_admin(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    if not principal.is_admin:
        raise PermissionDenied("ADMIN_ONLY", "Only an admin user may do this.")
    return principal


StoreDep = Annotated[Store, Depends(get_store)]
PrincipalDep = Annotated[Principal, Depends(current_principal)]
OptionalPrincipalDep = Annotated[Principal | None, Depends(optional_principal)]
SiteDep = Annotated[Principal, Depends(current_site)]
BearerTokenDep = Annotated[str, Depends(bearer_token)]
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
