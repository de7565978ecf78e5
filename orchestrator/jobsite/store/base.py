"""What the jobs site's store parts share: the runtime store it sits on (same database, same engines),
row conversion, paging, and an INSERT that leaves an existing row alone on either backend."""

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite

from orchestrator.jobsite.permissions import PERMISSIONS, Actor, Permission
from orchestrator.runtime.errors import PermissionDenied, Unauthenticated
from orchestrator.runtime.models import Page
from orchestrator.runtime.store import Store
from orchestrator.runtime.store.rows import read_model

T = TypeVar("T")


class JobsiteBase:
    def __init__(self, runtime: Store):
        self.runtime = runtime
        self.settings = runtime.settings

    def write(self):
        return self.runtime.write()

    def read(self):
        return self.runtime.read()

    def page(
        self, table: Table, to_model: Callable[[Any], T], after_seq: int, limit: int, *where, before_seq=None
    ) -> Page[T]:
        return self.runtime.page(table, to_model, after_seq, limit, *where, before_seq=before_seq)


def model_of(model: type[T], kind: str, **extra) -> Callable[[Any], T | None]:
    return lambda row: read_model(model, {**dict(row._mapping), **extra}, kind)


def insert_ignoring_conflicts(conn, table: Table, values: dict | list[dict], *conflict_columns: str):
    """INSERT ... ON CONFLICT DO NOTHING: an aborted PostgreSQL transaction must not be the price of a duplicate."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return conn.execute(
        dialect.insert(table).values(values).on_conflict_do_nothing(index_elements=list(conflict_columns))
    )


def require(actor: Actor, permission: Permission, project: str | None = None) -> None:
    """Raise 401 (nobody logged in) or 403 (logged in, without a role that grants it)."""
    if actor.can(permission, project):
        return
    roles = " or ".join(sorted(PERMISSIONS[permission]))
    where = f" of project {project!r}" if project else ""
    if actor.user_id is None:
        raise Unauthenticated("LOGIN_REQUIRED", f"Log in to {permission.value}: it needs the role {roles}{where}.")
    raise PermissionDenied(
        "MISSING_ROLE",
        f"{actor.user_id!r} may not {permission.value}: it needs the role {roles}{where}.",
        {"permission": permission.name, "roles": sorted(PERMISSIONS[permission]), "project": project},
    )


def require_site(principal, what: str) -> None:
    """Raise 401 (nobody) or 403 (a person) unless a site's credentials ask: some calls only an airlock makes."""
    if principal is None:
        raise Unauthenticated("LOGIN_REQUIRED", f"Only a site may {what}: use its client credentials.")
    if principal.kind != "site":
        raise PermissionDenied(
            "SITE_CREDENTIALS_REQUIRED",
            f"Only a site's airlock may {what} (with the site's client credentials), not a person.",
        )
