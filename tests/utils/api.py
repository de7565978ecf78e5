"""What the HTTP tests share: raw requests as a client, the checks every error response must pass,
and a snapshot of every list and table to show that a refused request changed nothing."""

import re

import pytest
import requests
from sqlalchemy import select

from orchestrator.runtime import schema
from orchestrator.runtime.client import RuntimeClientError

LISTS = ("/jobs", "/objects", "/operations", "/sites", "/object_types", "/workflows", "/triggers")
JSON = {"Content-Type": "application/json"}


def call(client, method, path, *, token=None, **kwargs) -> requests.Response:
    """A raw request as `client` (its bearer token unless `token` is given; token="" sends none)."""
    headers = dict(kwargs.pop("headers", {}))
    token = client.token() if token is None else token
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return requests.request(method, client.base_url + path, headers=headers, timeout=60, **kwargs)


def assert_error(response, status, code=None) -> dict:
    assert response.status_code == status, (response.status_code, response.text[:500])
    body = response.json()
    assert {"code", "message", "details"} <= set(body), body
    assert isinstance(body["code"], str) and re.fullmatch(r"[A-Z][A-Z0-9_]*", body["code"]), body
    assert isinstance(body["message"], str) and body["message"].strip(), body
    assert isinstance(body["details"], dict), body
    if code is not None:
        assert body["code"] == code, body
    return body


def is_error_body(response) -> bool:
    try:
        body = response.json()
    except ValueError:
        return False
    return (
        isinstance(body, dict)
        and isinstance(body.get("code"), str)
        and bool(body["code"])
        and isinstance(body.get("message"), str)
        and bool(body["message"].strip())
        and isinstance(body.get("details"), dict)
    )


def error_fields(body) -> set[str]:
    """The field/param names the validation errors point at."""
    return {str(part) for e in body["details"]["errors"] for part in e["location"][1:]}


def db_rows(store) -> dict:
    """Every row of every table but tokens (which each login adds to)."""
    with store.read() as conn:
        return {
            t.name: [tuple(r) for r in conn.execute(select(t).order_by(*t.primary_key.columns))]
            for t in schema.metadata.sorted_tables
            if t.name != "tokens"
        }


def snapshot(client, store) -> tuple:
    lists = {path: call(client, "GET", path, params={"limit": 1000}).json() for path in LISTS}
    return lists, db_rows(store)


def expect_error(status: int, code: str, fn, *args, **kwargs) -> RuntimeClientError:
    """`fn(*args, **kwargs)` through a RuntimeClient must fail with this status and code."""
    with pytest.raises(RuntimeClientError) as info:
        fn(*args, **kwargs)
    assert (info.value.status, info.value.code) == (status, code), info.value
    return info.value
