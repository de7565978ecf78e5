"""Changesheets against the metadata store (the rules in orchestrator/runtime/changesheets.py): checked
with every problem named at once -- unknown ids, bad paths, changes that would break the schema -- and
applied every row or none, only if each changed document still passes its schema. Applying locks the
documents it changes and re-reads them inside its transaction, so two changesheets on one document
applied at the same moment both land, one after the other: neither change is lost."""

from __future__ import annotations

import hashlib

from sqlalchemy import bindparam, select, update

from orchestrator import schemas
from orchestrator.runtime import changesheets as sheets
from orchestrator.runtime import schema as s
from orchestrator.runtime.errors import InvalidArgument
from orchestrator.runtime.models import (
    ApplyChangesheet,
    ChangedDocument,
    ChangesheetCheck,
    ChangesheetResult,
    Checksum,
    Object,
    ObjectCreate,
    Principal,
)
from orchestrator.runtime.schema import utcnow
from orchestrator.runtime.store.metadata import MetadataStore

CHANGESHEET_TYPE = "metadata-changesheet"
CHUNK = 500


class ChangesheetStore(MetadataStore):
    def check_changesheet(self, data: bytes, schema_name: str) -> ChangesheetCheck:
        """What applying the changesheet now would do, or every reason it cannot; changes nothing."""
        schema, problems = _schema(schema_name), sheets.Problems()
        rows = sheets.parse(_text(data, problems), problems)
        with self.read() as conn:
            changes = self._changes(conn, rows, schema, problems, lock=False)
        return ChangesheetCheck(
            valid=not problems.count,
            rows=len(rows),
            problems=list(problems),
            problem_count=problems.count,
            changes=changes if not problems.count else [],
        )

    def submit_changesheet(self, data: bytes, schema_name: str, name: str, by: Principal) -> Object:
        """Store a valid changesheet as a `metadata-changesheet` object (its trigger applies it at a site)."""
        check = self.check_changesheet(data, schema_name)
        if not check.valid:
            raise _invalid(check.problems, check.problem_count, "nothing was submitted")
        spec = ObjectCreate(
            name=name,
            types=[CHANGESHEET_TYPE],
            size=len(data),
            checksums=[Checksum(type="sha256", checksum=hashlib.sha256(data).hexdigest())],
            mime_type="text/tab-separated-values",
            description=f"changesheet of {check.rows} row(s), {len(check.changes)} document(s); schema {schema_name}",
        )
        return self.put_object(spec, data, by)

    def apply_changesheet(self, request: ApplyChangesheet, by: Principal) -> ChangesheetResult:
        obj = self.ready_object(request.object_id)
        schema, problems = _schema(request.schema_name), sheets.Problems()
        rows = sheets.parse(_text(self.blob_path_of(obj).read_bytes(), problems), problems)
        if by.kind == "site" and request.operation_id is None:
            raise InvalidArgument("OPERATION_REQUIRED", "A site applies a changesheet for an operation it holds.")
        t, now = s.metadata_documents, utcnow()
        with self.write() as conn:
            written_by = f"{by.kind}:{by.id}"
            if request.operation_id is not None:
                written_by = "job:" + self._live_operation_job(conn, request.operation_id, by, now)
            changes = self._changes(conn, rows, schema, problems, lock=True)
            if problems.count:
                raise _invalid(list(problems), problems.count, "nothing was changed")
            if changes:  # one statement, executed for each document
                conn.execute(
                    update(t)
                    .where(t.c.collection == bindparam("c"), t.c.id == bindparam("i"))
                    .values(document=bindparam("d"), version=bindparam("v"), updated_at=now, updated_by=written_by),
                    [{"c": x.collection, "i": x.id, "d": x.after, "v": x.version} for x in changes],
                )
        return ChangesheetResult(changes=changes)

    def _changes(self, conn, rows, schema: dict, problems: sheets.Problems, lock: bool) -> list[ChangedDocument]:
        """Each named document with its rows applied, in the order of first mention; problems added."""
        t = s.metadata_documents
        rows_of: dict[str, list] = {}
        for row in rows:  # by id, in the order of first mention; each id's rows in file order
            rows_of.setdefault(row.id, []).append(row)
        ids = list(rows_of)
        stored: dict[str, list] = {}
        for start in range(0, len(ids), CHUNK):
            query = select(t.c.collection, t.c.id, t.c.document, t.c.version).where(
                t.c.id.in_(ids[start : start + CHUNK])
            )
            for found in conn.execute(query.with_for_update() if lock else query):
                stored.setdefault(found.id, []).append(found)
        changes = []
        for document_id in ids:
            its_rows = rows_of[document_id]
            hits = stored.get(document_id, [])
            if len(hits) != 1:
                where = "no stored document has it" if not hits else f"it is in {len(hits)} collections"
                problems.add(its_rows[0].line, f"unknown id {document_id!r}: {where}", document_id)
                continue
            (hit,) = hits
            after = sheets.apply_rows(hit.document, its_rows, problems)
            for error in schemas.validation_errors({hit.collection: [after]}, schema):
                path = error["path"].removeprefix(f"/{hit.collection}/0")
                problems.add(
                    its_rows[0].line,
                    f"the changed document breaks the schema at {path or '/'}: {error['message']}",
                    document_id,
                )
            changes.append(
                ChangedDocument(
                    collection=hit.collection, id=document_id, version=hit.version + 1, before=hit.document, after=after
                )
            )
        return changes


def _schema(name: str) -> dict:
    try:
        return schemas.load_schema(name)
    except schemas.UnknownSchema as exc:
        raise InvalidArgument("UNKNOWN_SCHEMA", str(exc), {"schema": name}) from None


def _text(data: bytes, problems: sheets.Problems) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        problems.add(None, f"not UTF-8 text: {exc}")
        return ""


def _invalid(problems: list[dict], count: int, consequence: str) -> InvalidArgument:
    return InvalidArgument(
        "INVALID_CHANGESHEET", f"{count} problem(s) in the changesheet; {consequence}.", {"problems": problems}
    )
