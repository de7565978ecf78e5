"""Long lists on pages come a page at a time, by the stores' own cursors (after_seq, or before_seq for
newest-first job requests): a page links to the next one and back to the first, keeping its other
query parameters, so two lists on one page page independently."""

from typing import Annotated
from urllib.parse import urlencode

from fastapi import Query, Request

PAGE_SIZE = 50
Cursor = Annotated[int | None, Query(ge=0, le=2**63 - 1)]


def page_url(request: Request, name: str, cursor: int | None) -> str | None:
    """This page with the cursor `name` set to `cursor` (None: removed, i.e. the first page)."""
    params = [(key, value) for key, value in request.query_params.multi_items() if key != name]
    if cursor is not None:
        params.append((name, str(cursor)))
    return f"{request.url.path}?{urlencode(params)}" if params else request.url.path


def pager(request: Request, name: str, next_cursor: int | None) -> dict:
    """Links for a list's pager: the next page (None on the last) and the first (None on the first)."""
    return {
        "next": page_url(request, name, next_cursor) if next_cursor is not None else None,
        "first": page_url(request, name, None) if request.query_params.get(name) else None,
    }
