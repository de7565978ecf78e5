"""The metadata store: collections of JSON documents keyed by their `id`. An ingest puts a whole document
set in, in one transaction -- every document or none; a document whose id exists fails the ingest,
naming the ids, unless it asks to replace. Read by cursor pages (filtered on top-level fields) or by id.

A site ingests for an operation it holds (fencing: a run whose lease ran out cannot write); admins may too."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from sqlalchemy import and_, bindparam, func, insert, select, type_coerce, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import IntegrityError

from orchestrator.runtime import schema as s
from orchestrator.runtime.errors import Conflict, InvalidArgument, PermissionDenied, not_found
from orchestrator.runtime.jsonsafe import json_problem
from orchestrator.runtime.models import (
    COLLECTION_PATTERN,
    IngestRequest,
    IngestResult,
    MetadataCollection,
    MetadataDocument,
    Page,
    Principal,
)
from orchestrator.runtime.schema import utcnow
from orchestrator.runtime.store.base import StoreBase, found, take_seqs
from orchestrator.runtime.store.rows import read_model

MAX_INGEST_BYTES = 256 * 2**20  # a document set is parsed in memory
MAX_PROBLEMS = 50
CHUNK = 500  # ids per IN (...) list
FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")
_COLLECTION = re.compile(COLLECTION_PATTERN)


def _document(row) -> MetadataDocument | None:
    return read_model(MetadataDocument, dict(row._mapping), "metadata document")


class MetadataStore(StoreBase):
    # ---- reading
    def list_collections(self) -> list[MetadataCollection]:
        t = s.metadata_documents
        with self.read() as conn:
            rows = conn.execute(select(t.c.collection, func.count()).group_by(t.c.collection).order_by(t.c.collection))
            return [MetadataCollection(name=name, count=count) for name, count in rows]

    def list_documents(
        self, collection: str, after_seq: int = 0, limit: int = 100, where: dict[str, Any] | None = None
    ) -> Page[MetadataDocument]:
        t = s.metadata_documents
        conditions = [t.c.collection == collection, *self._matching(where or {})]
        return self.page(t, _document, after_seq, limit, *conditions)

    def get_document(self, collection: str, document_id: str) -> MetadataDocument:
        t = s.metadata_documents
        with self.read() as conn:
            row = conn.execute(select(t).where(t.c.collection == collection, t.c.id == document_id)).first()
        if row is None:
            raise not_found("metadata document", f"{collection}/{document_id}")
        return found(_document(row), "metadata document", document_id)

    def _matching(self, where: dict[str, Any]) -> list:
        """Equality on top-level fields: strings, numbers and booleans, as JSON compares them (1 is not true)."""
        problems = [f"{field!r} is no top-level field name" for field in where if not FIELD.match(field)]
        problems += [
            f"{field}: {value!r} is not a string, number or boolean"
            for field, value in where.items()
            if not isinstance(value, str | int | float | bool)
            or (isinstance(value, float) and not math.isfinite(value))
            or (isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**63)
            or (isinstance(value, str) and "\0" in value)
        ]
        if problems:
            raise InvalidArgument("INVALID_FILTER", "The filter cannot be used: " + "; ".join(problems) + ".")
        document = s.metadata_documents.c.document
        if self.writer.dialect.name == "postgresql":  # containment: the GIN-indexable operator
            return [type_coerce(document, JSONB).contains({field: value}) for field, value in where.items()]
        conditions = []
        for field, value in where.items():
            path = f"$.{field}"
            kind = func.json_type(document, path)
            if isinstance(value, bool):
                conditions.append(kind == ("true" if value else "false"))
            elif isinstance(value, str):
                conditions.append(and_(kind == "text", func.json_extract(document, path) == value))
            else:
                conditions.append(and_(kind.in_(["integer", "real"]), func.json_extract(document, path) == value))
        return conditions

    def ready_object(self, object_id: str):
        """An object whose bytes are uploaded (and checked); 409 while they are not."""
        obj = self.get_object(object_id)
        if obj.status != "ready":
            raise Conflict("CONTENT_NOT_UPLOADED", f"Object {object_id!r} has no content yet; upload it first.")
        return obj

    # ---- ingesting
    def ingest(self, request: IngestRequest, by: Principal) -> IngestResult:
        obj = self.ready_object(request.object_id)
        if obj.size > MAX_INGEST_BYTES:
            raise InvalidArgument(
                "DOCUMENT_SET_TOO_LARGE",
                f"Object {obj.id!r} is {obj.size} bytes; a document set is ingested whole, up to {MAX_INGEST_BYTES}.",
            )
        documents = read_document_set(self.blob_path_of(obj).read_bytes())
        if by.kind == "site" and request.operation_id is None:
            raise InvalidArgument("OPERATION_REQUIRED", "A site ingests for an operation it holds: send operation_id.")
        t, now = s.metadata_documents, utcnow()
        try:
            with self.write() as conn:
                written_by = f"{by.kind}:{by.id}"
                if request.operation_id is not None:
                    written_by = "job:" + self._live_operation_job(conn, request.operation_id, by, now)
                existing = self._existing(conn, documents)
                if existing and not request.replace:
                    raise _exist(existing, "exist already; ingest with replace to overwrite them")
                new = [
                    {"collection": c, "id": doc["id"], "document": doc, "version": 1}
                    | {"created_at": now, "updated_at": now, "updated_by": written_by}
                    for c, docs in documents.items()
                    for doc in docs
                    if doc["id"] not in existing.get(c, set())
                ]
                if new:
                    # seqs in commit order: the curation sensor's cursor never passes a document
                    for seq, row in zip(take_seqs(conn, "metadata_documents", len(new)), new, strict=True):
                        row["seq"] = seq
                    conn.execute(insert(t), new)
                changed = [
                    {"c": c, "i": doc["id"], "d": doc}
                    for c, docs in documents.items()
                    for doc in docs
                    if doc["id"] in existing.get(c, set())
                ]
                if changed:
                    conn.execute(
                        update(t)
                        .where(t.c.collection == bindparam("c"), t.c.id == bindparam("i"))
                        .values(
                            document=bindparam("d"), version=t.c.version + 1, updated_at=now, updated_by=written_by
                        ),
                        changed,
                    )
        except IntegrityError:  # another ingest inserted one of these ids after we looked: nothing of ours stays
            raise Conflict(
                "DOCUMENTS_EXIST",
                "Another ingest wrote some of these documents at the same moment; nothing was ingested. Run it again.",
            ) from None
        return IngestResult(
            inserted=_ids_by_collection(documents, existing, new=True),
            replaced=_ids_by_collection(documents, existing, new=False),
        )

    def _existing(self, conn, documents: dict[str, list[dict]]) -> dict[str, set[str]]:
        """The ids of the set that are stored already, per collection, locked until commit (PostgreSQL)."""
        t, found_ids = s.metadata_documents, {}
        for collection, docs in documents.items():
            ids = [doc["id"] for doc in docs]
            for start in range(0, len(ids), CHUNK):
                query = select(t.c.id).where(t.c.collection == collection, t.c.id.in_(ids[start : start + CHUNK]))
                hits = conn.execute(query.with_for_update()).scalars().all()
                if hits:
                    found_ids.setdefault(collection, set()).update(hits)
        return found_ids

    def _live_operation_job(self, conn, operation_id: str, by: Principal, now) -> str:
        """The job of `operation_id` if `by` may write for it now: its site's, live, lease not run out."""
        op = conn.execute(select(s.operations).where(s.operations.c.id == operation_id).with_for_update()).first()
        if op is None:
            raise not_found("operation", operation_id)
        if not by.is_admin and op.site_id != by.id:
            raise PermissionDenied("NOT_OWNER", f"Operation {operation_id!r} belongs to another site.")
        if op.done or self._expire_if_due(conn, op.id, now):
            raise Conflict("OPERATION_DONE", f"Operation {operation_id!r} is done; it may not write any more.")
        return op.job_id


def read_document_set(data: bytes) -> dict[str, list[dict]]:
    """{collection: [document, ...]} from JSON, every problem named at once (up to MAX_PROBLEMS)."""
    try:
        parsed = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise InvalidArgument("INVALID_DOCUMENT_SET", f"The document set is not JSON: {exc}.") from None
    if unstorable := json_problem(parsed):  # NaN, NUL, too deep: what the database cannot keep
        where = "/".join(map(str, unstorable.location))
        raise InvalidArgument(
            "INVALID_DOCUMENT_SET", f"{unstorable.message} (at {where or 'the top'}); nothing was ingested."
        )
    if not isinstance(parsed, dict) or not parsed:
        raise InvalidArgument(
            "INVALID_DOCUMENT_SET", "A document set is a JSON object of collections: {collection: [document, ...]}."
        )
    problems = []
    for collection, docs in parsed.items():
        if not _COLLECTION.match(collection):
            problems.append(f"{collection!r} is no collection name (lower case, digits, _; 100 at most)")
        if not isinstance(docs, list):
            problems.append(f"{collection}: not a list of documents")
            continue
        seen = set()
        for index, doc in enumerate(docs):
            where = f"{collection}[{index}]"
            if not isinstance(doc, dict):
                problems.append(f"{where}: not an object")
            elif not _usable_id(doc.get("id")):
                problems.append(
                    f"{where}: no usable id (a string of 1 to 200 characters, without / or control characters)"
                )
            elif doc["id"] in seen:
                problems.append(f"{where}: id {doc['id']!r} appears twice")
            else:
                seen.add(doc["id"])
    if problems:
        shown = problems[:MAX_PROBLEMS]
        more = f" (and {len(problems) - MAX_PROBLEMS} more)" if len(problems) > MAX_PROBLEMS else ""
        raise InvalidArgument(
            "INVALID_DOCUMENT_SET",
            f"{len(problems)} problem(s) in the document set{more}; nothing was ingested.",
            {"problems": shown},
        )
    return parsed


def _usable_id(value) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 200 and "/" not in value and value.isprintable()


def _exist(existing: dict[str, set[str]], what: str) -> Conflict:
    count = sum(len(ids) for ids in existing.values())
    named = {c: sorted(ids) for c, ids in sorted(existing.items())}
    listing = "; ".join(f"{c}: {', '.join(ids[:10])}{' ...' if len(ids) > 10 else ''}" for c, ids in named.items())
    return Conflict(
        "DOCUMENTS_EXIST", f"{count} document(s) {what} ({listing}); nothing was ingested.", {"existing": named}
    )


def _ids_by_collection(documents: dict[str, list[dict]], existing: dict[str, set[str]], new: bool) -> dict:
    result = {}
    for collection, docs in documents.items():
        ids = [doc["id"] for doc in docs if (doc["id"] not in existing.get(collection, set())) is new]
        if ids:
            result[collection] = ids
    return result
