"""POST /token: OAuth2-style token endpoint (client_credentials for sites, password for users)."""

import json
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict
from starlette.concurrency import run_in_threadpool

from orchestrator.runtime.api.deps import PrincipalDep, StoreDep
from orchestrator.runtime.errors import InvalidArgument, RuntimeApiError
from orchestrator.runtime.jsonsafe import json_problem
from orchestrator.runtime.models import Token

router = APIRouter(tags=["auth"])


class Revoke(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: str


_FORM = "application/x-www-form-urlencoded"
# grant_type picks the other fields: client_id + client_secret (sites) or username + password (people).
_TOKEN_REQUEST = {
    "type": "object",
    "required": ["grant_type"],
    "properties": {
        "grant_type": {"type": "string", "enum": ["client_credentials", "password"]},
        **{name: {"type": "string"} for name in ("client_id", "client_secret", "username", "password")},
    },
}


async def _form_or_json(request: Request) -> dict:
    """OAuth2 clients send a form; scripts often send JSON. Accept both without a multipart dependency."""
    body = await request.body()
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            data = json.loads(body)
        except ValueError:
            raise RuntimeApiError("MALFORMED_JSON", "The request body is not valid JSON.") from None
        if not isinstance(data, dict):
            raise InvalidArgument("INVALID_ARGUMENT", "The request body must be a JSON object.")
        return data
    return dict(parse_qsl(body.decode("utf-8", "replace")))


def _need(data: dict, *names: str) -> list[str]:
    missing = [n for n in names if not isinstance(data.get(n), str) or not data.get(n)]
    if missing:
        raise InvalidArgument(
            "INVALID_ARGUMENT", f"Missing or non-string fields: {', '.join(missing)}.", {"missing": missing}
        )
    problem = json_problem([data[n] for n in names])
    if problem:
        raise InvalidArgument(problem.code, problem.message)
    return [data[n] for n in names]


@router.post(
    "/token",
    response_model=Token,
    summary="Exchange credentials for an access token",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {media_type: {"schema": _TOKEN_REQUEST} for media_type in (_FORM, "application/json")},
        }
    },
)
async def issue_token(request: Request, store: StoreDep) -> Token:
    data = await _form_or_json(request)
    grant = data.get("grant_type")
    address = request.client.host if request.client else "unknown"  # the rate limit counts failures per address
    if grant == "client_credentials":
        return await run_in_threadpool(store.token_for_client, *_need(data, "client_id", "client_secret"), address)
    if grant == "password":
        return await run_in_threadpool(store.token_for_user, *_need(data, "username", "password"), address)
    raise InvalidArgument(
        "UNSUPPORTED_GRANT_TYPE", "grant_type must be 'client_credentials' (sites) or 'password' (users)."
    )


@router.post("/token:revoke", status_code=200, summary="Revoke a token (yours, or any if you are an admin)")
def revoke_token(body: Revoke, store: StoreDep, principal: PrincipalDep) -> dict:
    store.revoke_token(body.token, principal)
    return {}
