"""Shared shape of the catalog routers (object types, workflows, triggers): list, get, PUT by id."""

from collections.abc import Callable

from fastapi import APIRouter, Response

from orchestrator.runtime.api.deps import AdminDep, AfterSeq, Limit, PrincipalDep, StoreDep
from orchestrator.runtime.errors import InvalidArgument
from orchestrator.runtime.models import Page


def catalog_router(path: str, model: type, put: Callable, get: Callable, list_: Callable) -> APIRouter:
    """A router for one catalog resource; `put`, `get`, `list_` are the Store's methods for it."""
    router = APIRouter(prefix=f"/{path}", tags=[path])

    @router.get("", response_model=Page[model])
    def list_items(store: StoreDep, _: PrincipalDep, after_seq: AfterSeq = 0, limit: Limit = 100):
        return list_(store, after_seq, limit)

    @router.get("/{item_id}", response_model=model)
    def get_item(item_id: str, store: StoreDep, _: PrincipalDep):
        return get(store, item_id)

    @router.put(
        "/{item_id}",
        response_model=model,
        responses={201: {"model": model}},
        summary="Create or replace (200 replaced, 201 created)",
    )
    def put_item(item_id: str, body: model, store: StoreDep, response: Response, _: AdminDep):
        if body.id != item_id:
            raise InvalidArgument("ID_MISMATCH", f"The body's id {body.id!r} differs from the path's {item_id!r}.")
        response.status_code = 201 if put(store, body) else 200
        return body

    return router
