"""The catalog: object types, workflows, triggers and sites. PUT by id creates or replaces.

A site's status (last seen, running and queued runs) comes from its heartbeats (jobs.py: heartbeat);
here it is read, and a site is paused or resumed."""

from datetime import timedelta

from pydantic import ValidationError
from sqlalchemy import Table, insert, select, update
from sqlalchemy.exc import IntegrityError

from orchestrator.runtime import schema as s
from orchestrator.runtime.errors import Conflict, InvalidArgument, not_found
from orchestrator.runtime.models import ObjectType, Page, Site, SiteCreate, SiteLoad, SiteStatus, Trigger, Workflow
from orchestrator.runtime.schema import utcnow
from orchestrator.runtime.store.base import StoreBase, found
from orchestrator.runtime.store.rows import read_model


def _require_ids(conn, table: Table, ids: list[str], code: str, kind: str) -> None:
    known = set(conn.execute(select(table.c.id).where(table.c.id.in_(ids))).scalars())
    missing = sorted(set(ids) - known)
    if missing:
        raise InvalidArgument(code, f"Unknown {kind}: {', '.join(missing)}. Register it first.", {"missing": missing})


class CatalogStore(StoreBase):
    def _put(self, table: Table, values: dict, check=None) -> bool:
        """Create or replace the row with values['id']; True when it was created."""
        for _ in range(2):  # a concurrent first PUT of the same id makes our insert collide once
            try:
                with self.write() as conn:
                    if check:
                        check(conn)
                    changed = conn.execute(update(table).where(table.c.id == values["id"]).values(values)).rowcount
                    if not changed:
                        conn.execute(insert(table).values(values))
                    return not changed
            except IntegrityError:
                continue
        raise Conflict("CONCURRENT_UPDATE", f"{values['id']!r} was changed concurrently; retry the request.")

    def _get(self, table: Table, kind: str, id_: str):
        with self.read() as conn:
            row = conn.execute(select(table).where(table.c.id == id_)).first()
        if row is None:
            raise not_found(kind, id_)
        return row

    # object types
    def put_object_type(self, item: ObjectType) -> bool:
        return self._put(s.object_types, item.model_dump())

    def get_object_type(self, id_: str) -> ObjectType:
        return found(_with_seq(ObjectType)(self._get(s.object_types, "object type", id_)), "object type", id_)

    def list_object_types(self, after_seq: int = 0, limit: int = 100) -> Page[ObjectType]:
        return self.page(s.object_types, _with_seq(ObjectType), after_seq, limit)

    # workflows
    def put_workflow(self, item: Workflow) -> bool:
        return self._put(s.workflows, item.model_dump())

    def get_workflow(self, id_: str) -> Workflow:
        return found(_with_seq(Workflow)(self._get(s.workflows, "workflow", id_)), "workflow", id_)

    def list_workflows(self, after_seq: int = 0, limit: int = 100) -> Page[Workflow]:
        return self.page(s.workflows, _with_seq(Workflow), after_seq, limit)

    # triggers
    def put_trigger(self, item: Trigger) -> bool:
        def check(conn):
            _require_ids(conn, s.object_types, [item.object_type_id], "UNKNOWN_OBJECT_TYPE", "object type")
            _require_ids(conn, s.workflows, [item.workflow_id], "UNKNOWN_WORKFLOW", "workflow")

        return self._put(s.triggers, item.model_dump(), check)

    def get_trigger(self, id_: str) -> Trigger:
        return found(_with_seq(Trigger)(self._get(s.triggers, "trigger", id_)), "trigger", id_)

    def list_triggers(self, after_seq: int = 0, limit: int = 100, object_type_id: str | None = None) -> Page[Trigger]:
        where = [s.triggers.c.object_type_id == object_type_id] if object_type_id else []
        return self.page(s.triggers, _with_seq(Trigger), after_seq, limit, *where)

    # sites
    def create_site(self, item: SiteCreate) -> Site:
        values = {**item.model_dump(), "created_at": utcnow()}
        try:
            with self.write() as conn:
                conn.execute(insert(s.sites).values(values))
        except IntegrityError:
            raise Conflict("ALREADY_EXISTS", f"A site with id {item.id!r} already exists.", {"id": item.id}) from None
        return self.get_site(item.id)

    def get_site(self, id_: str) -> Site:
        return found(_site(self._get(s.sites, "site", id_)), "site", id_)

    def list_sites(self, after_seq: int = 0, limit: int = 100) -> Page[Site]:
        return self.page(s.sites, _site, after_seq, limit)

    def set_site_paused(self, id_: str, paused: bool) -> Site:
        """Pause (nothing new is claimed) or resume a site; doing it twice is the same as once."""
        return self._set_site_mode(id_, paused=paused)

    def set_site_maintenance(self, id_: str, maintenance: bool) -> Site:
        """Start or end a site's database maintenance; doing it twice is the same as once."""
        return self._set_site_mode(id_, maintenance=maintenance)

    def _set_site_mode(self, id_: str, **mode: bool) -> Site:
        with self.write() as conn:
            if not conn.execute(update(s.sites).where(s.sites.c.id == id_).values(**mode)).rowcount:
                raise not_found("site", id_)
        return self.get_site(id_)

    def get_site_status(self, id_: str) -> SiteStatus:
        """The site's last heartbeat and load; `up` unless never seen or not seen for site_down_after_seconds."""
        row = self._get(s.sites, "site", id_)
        load = _load(row.status)
        horizon = utcnow() - timedelta(seconds=self.settings.site_down_after_seconds)
        return SiteStatus(
            site_id=row.id,
            last_seen_at=row.last_seen_at,
            running=load.running,
            queued=load.queued,
            paused=bool(row.paused),
            maintenance=bool(row.maintenance),
            up=row.last_seen_at is not None and row.last_seen_at > horizon,
        )


def _site(row) -> Site | None:
    return read_model(Site, dict(row._mapping), "site")


def _load(value) -> SiteLoad:
    """The load a site last reported; idle if the stored value cannot be read (a row written around the API)."""
    try:
        return SiteLoad.model_validate(value)
    except ValidationError:
        return SiteLoad()


def _with_seq(model):
    """Catalog models double as request bodies, which have no seq; drop it when reading rows."""
    return lambda row: read_model(model, {k: v for k, v in row._mapping.items() if k != "seq"}, model.__name__)
