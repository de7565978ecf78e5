"""The airlock's database: engines (one writer at a time on SQLite), migrated on open, and the audit log."""

from sqlalchemy import insert, select

from orchestrator.airlock import migrate
from orchestrator.airlock import schema as a
from orchestrator.runtime.db import Engines
from orchestrator.runtime.schema import utcnow


class AirlockDatabase(Engines):
    @classmethod
    def open(cls, url: str) -> "AirlockDatabase":
        db = cls(url)
        migrate.upgrade(db.writer)
        return db

    def audit(self, actor: str, action: str, *, workspace=None, request_id=None, path=None, detail="", conn=None):
        """One audit entry; inside `conn`'s transaction when given (the step and its entry commit together)."""
        values = {
            "at": utcnow(),
            "actor": actor,
            "action": action,
            "workspace": workspace,
            "request_id": request_id,
            "path": path,
            "detail": detail,
        }
        if conn is not None:
            conn.execute(insert(a.audit_log).values(values))
            return
        with self.write() as own:
            own.execute(insert(a.audit_log).values(values))

    def audit_entries(self, request_id: str | None = None) -> list[dict]:
        query = select(a.audit_log).order_by(a.audit_log.c.seq)
        if request_id is not None:
            query = query.where(a.audit_log.c.request_id == request_id)
        with self.read() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]
