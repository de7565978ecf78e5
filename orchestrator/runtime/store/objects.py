"""Objects: an upload reserves an id; the object exists once its bytes arrived and matched.

Object `seq`s are drawn from a counter row inside the inserting transaction. The row stays locked
until commit, so objects commit in `seq` order and a sensor's cursor cannot pass a later-committing
object (the classic skipped-sequence gap).
"""

import asyncio
from collections.abc import AsyncIterable

from sqlalchemy import delete, insert, select

from orchestrator.runtime import schema as s
from orchestrator.runtime import security
from orchestrator.runtime.blobs import BlobStore
from orchestrator.runtime.errors import InvalidArgument, PermissionDenied, not_found
from orchestrator.runtime.models import Object, ObjectCreate, Page, Principal
from orchestrator.runtime.schema import utcnow
from orchestrator.runtime.store.base import MAX_PAGE, StoreBase, found, make_page, seq_range, take_seqs
from orchestrator.runtime.store.catalog import _require_ids
from orchestrator.runtime.store.rows import read_model

RESTRICTED = s.object_types.c.restricted.is_(True)


def restricted_seq(object_seq):
    """Whether the object with this seq has any restricted type (an EXISTS over its type links)."""
    links = s.object_type_links.alias("restricted_links")
    return (
        select(links.c.object_seq)
        .join(s.object_types, s.object_types.c.id == links.c.type_id)
        .where(links.c.object_seq == object_seq, RESTRICTED)
        .exists()
    )


RESTRICTED_OBJECT = restricted_seq(s.objects.c.seq)


def sees_restricted(principal: Principal) -> bool:
    """Admins and sites see objects of restricted types; people do not (the jobs site serves them its way)."""
    return principal.kind == "site" or principal.is_admin


def _object(row) -> Object | None:
    values = {k: v for k, v in row._mapping.items() if k not in ("sha256", "created_by")}
    return read_model(Object, {**values, "status": "ready"}, "object")


def _pending(row) -> Object | None:
    spec = row.spec if isinstance(row.spec, dict) else {}
    values = {
        **spec,
        "id": row.id,
        "created_time": row.created_at,
        "site_id": row.site_id,
        "status": "pending",
        "seq": None,
    }
    return read_model(Object, values, "object")


class ObjectStore(StoreBase):
    blobs: BlobStore

    def create_object(self, spec: ObjectCreate, by: Principal, has_bytes: bool = False) -> Object:
        """Reserve an id for `spec`; if the bytes are already stored (same sha256) the object is ready at once.
        `has_bytes`: the caller has just stored these very bytes itself (put_object)."""
        self.blobs.check_size(spec.size)
        with self.read() as conn:
            _require_ids(conn, s.object_types, spec.types, "UNKNOWN_OBJECT_TYPE", "object type")
        restricted = self._restricted_types(spec.types)
        if restricted and not sees_restricted(by):
            raise PermissionDenied(
                "RESTRICTED_OBJECT_TYPE",
                f"Only admins and sites make objects of type {', '.join(sorted(restricted))}.",
                {"types": sorted(restricted)},
            )
        stored = self.blobs.stored_size(spec.sha256)
        if stored is not None and not (has_bytes or sees_restricted(by) or self._held_openly(spec.sha256)):
            # Only objects of restricted types hold these bytes: a person must send them, never get them by
            # naming their sha256 (released outputs' hashes are public), nor learn their size.
            stored = None
        if stored is not None and stored != spec.size:  # these bytes are known: a wrong size can never match them
            raise InvalidArgument(
                "SIZE_MISMATCH",
                f"The bytes with this sha256 are {stored} bytes long, not {spec.size}.",
                {"declared_size": spec.size, "stored_size": stored},
            )
        object_id = security.new_id("obj")
        site_id = by.id if by.kind == "site" else None
        with self.write() as conn:
            conn.execute(
                insert(s.uploads).values(
                    id=object_id,
                    spec=spec.model_dump(),
                    created_by=f"{by.kind}:{by.id}",
                    site_id=site_id,
                    created_at=utcnow(),
                )
            )
        if stored is not None:
            return self._publish(object_id)
        return self.get_object(object_id)

    def put_object(self, spec: ObjectCreate, data: bytes, by: Principal) -> Object:
        """Create a ready object from bytes already in this process (the server makes them itself)."""
        sha256 = self.blobs.write_bytes(data)
        if spec.sha256 != sha256 or spec.size != len(data):
            raise InvalidArgument("CHECKSUM_MISMATCH", "The bytes do not match the object's declared sha256 or size.")
        return self.create_object(spec, by, has_bytes=True)

    async def upload_content(self, object_id: str, chunks: AsyncIterable[bytes]) -> Object:
        """Verify and store the bytes of `object_id`, then publish it. Re-uploading the same bytes is harmless."""
        obj = await asyncio.to_thread(self.get_object, object_id)  # keep database waits off the event loop
        await self.blobs.write(chunks, obj.checksums_sha256(), obj.size)
        return await asyncio.to_thread(self._publish, object_id) if obj.status == "pending" else obj

    def check_upload_size(self, size: int) -> None:
        """Refuse an upload by its declared length (413), before reading a body that would be discarded."""
        self.blobs.check_size(size)

    def _publish(self, object_id: str) -> Object:
        with self.write() as conn:
            row = conn.execute(delete(s.uploads).where(s.uploads.c.id == object_id).returning(s.uploads)).first()
            if row is not None:  # else a concurrent upload of the same bytes published it already
                (seq,) = take_seqs(conn, "objects")
                spec = found(_pending(row), "object", object_id)  # as checked when it was created, or repaired if older
                conn.execute(
                    insert(s.objects).values(
                        seq=seq,
                        id=object_id,
                        name=spec.name,
                        description=spec.description,
                        types=spec.types,
                        size=spec.size,
                        sha256=spec.checksums_sha256(),
                        checksums=[c.model_dump() for c in spec.checksums],
                        mime_type=spec.mime_type,
                        site_id=row.site_id,
                        created_by=row.created_by,
                        created_time=utcnow(),
                    )
                )
                conn.execute(insert(s.object_type_links), [{"type_id": t, "object_seq": seq} for t in set(spec.types)])
        return self.get_object(object_id)

    def _held_openly(self, sha256: str) -> bool:
        """Whether an object of no restricted type holds these bytes."""
        with self.read() as conn:
            query = select(s.objects.c.seq).where(s.objects.c.sha256 == sha256, ~RESTRICTED_OBJECT).limit(1)
            return conn.execute(query).first() is not None

    def get_object(self, object_id: str, hide_restricted: bool = False) -> Object:
        """The object; with `hide_restricted` (a person asking), one of a restricted type is not found."""
        with self.read() as conn:
            if (
                hide_restricted
                and conn.execute(select(s.objects.c.seq).where(s.objects.c.id == object_id, RESTRICTED_OBJECT)).first()
            ):
                raise not_found("object", object_id)
            row = conn.execute(select(s.objects).where(s.objects.c.id == object_id)).first()
            if row is not None:
                return found(_object(row), "object", object_id)
            pending = conn.execute(select(s.uploads).where(s.uploads.c.id == object_id)).first()
        if pending is None:
            raise not_found("object", object_id)
        obj = found(_pending(pending), "object", object_id)
        if hide_restricted and self._restricted_types(obj.types):
            raise not_found("object", object_id)
        return obj

    def _restricted_types(self, types: list[str]) -> list[str]:
        with self.read() as conn:
            return (
                conn.execute(select(s.object_types.c.id).where(RESTRICTED, s.object_types.c.id.in_(types)))
                .scalars()
                .all()
            )

    def blob_path_of(self, obj: Object):
        return self.blobs.path(obj.checksums_sha256())

    def list_objects(
        self,
        after_seq: int = 0,
        limit: int = 100,
        types: list[str] | None = None,
        before_seq: int | None = None,
        hide_restricted: bool = False,
    ) -> Page[Object]:
        hidden = (~RESTRICTED_OBJECT,) if hide_restricted else ()
        if not types:
            return self.page(s.objects, _object, after_seq, limit, *hidden, before_seq=before_seq)
        limit = max(1, min(limit, MAX_PAGE))
        links, newest_first = s.object_type_links, before_seq is not None
        in_order = (lambda seq: seq.desc()) if newest_first else (lambda seq: seq)
        with self.read() as conn:
            seqs = (
                conn.execute(
                    select(links.c.object_seq)
                    .distinct()
                    .where(
                        links.c.type_id.in_(types),
                        *seq_range(links.c.object_seq, after_seq, before_seq),
                        *([~restricted_seq(links.c.object_seq)] if hide_restricted else []),
                    )
                    .order_by(in_order(links.c.object_seq))
                    .limit(limit + 1)
                )
                .scalars()
                .all()
            )
            query = select(s.objects).where(s.objects.c.seq.in_(seqs)).order_by(in_order(s.objects.c.seq))
            rows = conn.execute(query).all()
        return make_page(rows, limit, _object, newest_first=newest_first)
