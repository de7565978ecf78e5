"""Content-addressed blob store: object bytes live in files named by their sha256, never in the DB.

A write streams into a temporary file in the same directory tree, checks size and checksum, and
only then renames into place, so a failed or oversized upload leaves nothing behind.
"""

import hashlib
import os
import tempfile
from collections.abc import AsyncIterable
from pathlib import Path

from orchestrator.runtime.errors import InvalidArgument, PayloadTooLarge


class BlobStore:
    def __init__(self, root: Path, max_bytes: int):
        self.root = Path(root)
        self.max_bytes = max_bytes
        (self.root / "tmp").mkdir(parents=True, exist_ok=True)

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def stored_size(self, sha256: str) -> int | None:
        """The size of the stored bytes with this sha256, or None if there are none."""
        try:
            return self.path(sha256).stat().st_size
        except FileNotFoundError:
            return None

    def check_size(self, size: int) -> None:
        if size > self.max_bytes:
            raise PayloadTooLarge(
                "OBJECT_TOO_LARGE",
                f"Object of {size} bytes exceeds the limit of {self.max_bytes} bytes.",
                {"size": size, "max_bytes": self.max_bytes},
            )

    async def write(self, chunks: AsyncIterable[bytes], expected_sha256: str, expected_size: int) -> None:
        """Store the streamed bytes if they are exactly `expected_size` bytes hashing to `expected_sha256`."""
        self.check_size(expected_size)
        digest, size = hashlib.sha256(), 0
        fd, tmp_name = tempfile.mkstemp(dir=self.root / "tmp")
        try:
            with os.fdopen(fd, "wb") as tmp:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > expected_size:
                        self._too_many_bytes(size, expected_size)
                    digest.update(chunk)
                    tmp.write(chunk)
            self._verify(digest.hexdigest(), size, expected_sha256, expected_size)
            target = self.path(expected_sha256)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp_name, target)
        finally:
            if os.path.exists(tmp_name):
                os.unlink(tmp_name)

    def write_bytes(self, data: bytes) -> str:
        """Store `data` (already in memory, e.g. made by the server itself); its sha256."""
        self.check_size(len(data))
        sha256 = hashlib.sha256(data).hexdigest()
        target = self.path(sha256)
        if self.stored_size(sha256) == len(data):
            return sha256
        fd, tmp_name = tempfile.mkstemp(dir=self.root / "tmp")
        try:
            with os.fdopen(fd, "wb") as tmp:
                tmp.write(data)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp_name, target)
        finally:
            if os.path.exists(tmp_name):
                os.unlink(tmp_name)
        return sha256

    def _too_many_bytes(self, size: int, expected_size: int) -> None:
        self.check_size(size)
        raise InvalidArgument(
            "SIZE_MISMATCH",
            f"Upload has more than the declared {expected_size} bytes.",
            {"declared_size": expected_size},
        )

    @staticmethod
    def _verify(actual_sha256: str, size: int, expected_sha256: str, expected_size: int) -> None:
        if size != expected_size:
            raise InvalidArgument(
                "SIZE_MISMATCH",
                f"Upload has {size} bytes but {expected_size} were declared.",
                {"declared_size": expected_size, "received_size": size},
            )
        if actual_sha256 != expected_sha256:
            raise InvalidArgument(
                "CHECKSUM_MISMATCH",
                "Uploaded bytes do not match the declared sha256 checksum; nothing was stored.",
                {"declared_sha256": expected_sha256, "received_sha256": actual_sha256},
            )
