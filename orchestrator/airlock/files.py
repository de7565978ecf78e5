"""Level 4 files and action logs of a workspace at this site, read safely: only regular files under
`level4/` (or `metadata/<action>.log`), reached without following any symlink, so neither `../` nor a
link planted in the directory leads anywhere else (the workspace's highly_sensitive outputs included).
Anything that is not such a file is simply not found."""

import csv
import hashlib
import io
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from orchestrator.pipeline.workspace import LEVEL4_DIR
from orchestrator.runtime.errors import NotFound, PayloadTooLarge

ACTION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
WORKSPACE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
TABLE_ROWS_SHOWN = 1000
TEXT_BYTES_SHOWN = 1 << 20
MAX_READ_BYTES = 64 << 20  # what the airlock reads of one file to show it; a release takes at most 16 MiB
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".svg": "image/svg+xml"}
TEXT_SUFFIXES = {".txt", ".md", ".log", ".json", ".html", ".tsv"}


@dataclass(frozen=True)
class Level4File:
    path: str  # relative to level4/
    size: int
    kind: str  # csv, image, text, other

    @property
    def media_type(self) -> str:
        suffix = PurePosixPath(self.path).suffix.lower()
        if suffix in IMAGE_TYPES:
            return IMAGE_TYPES[suffix]
        return {"csv": "text/csv", "text": "text/plain"}.get(self.kind, "application/octet-stream")


def kind_of(path: str) -> str:
    suffix = PurePosixPath(path).suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in IMAGE_TYPES:
        return "image"
    return "text" if suffix in TEXT_SUFFIXES else "other"


def _missing(workspace: str, path: str) -> NotFound:
    return NotFound("FILE_NOT_FOUND", f"Workspace {workspace!r} has no Level 4 file {path!r}.", {"path": path})


class WorkspaceFiles:
    def __init__(self, root: Path, workspace: str):
        if not WORKSPACE_NAME.fullmatch(workspace):
            raise NotFound("WORKSPACE_NOT_FOUND", f"No workspace {workspace!r} at this site.")
        self.name = workspace
        self.root = Path(root).resolve() / workspace

    def _open_no_follow(self, parts: list[str]) -> int:
        """A descriptor of the regular file at root/parts, opened one component at a time with
        O_NOFOLLOW, so no symlink anywhere on the way (or swapped in meanwhile) is followed."""
        fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            for index, part in enumerate(parts):
                last = index == len(parts) - 1
                # O_NONBLOCK: a FIFO planted here must not hold a worker forever (regular files ignore it)
                flags = os.O_RDONLY | os.O_NOFOLLOW | (os.O_NONBLOCK if last else os.O_DIRECTORY)
                next_fd = os.open(part, flags, dir_fd=fd)
                os.close(fd)
                fd = next_fd
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise OSError("not a regular file")
            return fd
        except BaseException:
            os.close(fd)
            raise

    def _read(self, parts: list[str], shown: str, max_bytes: int = MAX_READ_BYTES) -> bytes:
        try:
            fd = self._open_no_follow(parts)
        except OSError:
            raise _missing(self.name, shown) from None
        with os.fdopen(fd, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size > max_bytes:  # known before a byte is read: a huge file costs no memory
                raise PayloadTooLarge(
                    "FILE_TOO_LARGE",
                    f"{shown} is {size} bytes; the airlock reads files of up to {max_bytes} bytes here.",
                    {"size": size, "max_bytes": max_bytes},
                )
            return fh.read(max_bytes + 1)

    @staticmethod
    def _parts(path: str) -> list[str] | None:
        if not path or path.startswith("/") or "\\" in path or "\x00" in path:
            return None
        parts = path.split("/")
        return None if any(part in ("", ".", "..") for part in parts) else parts

    def level4_parts(self, path: str) -> list[str]:
        parts = self._parts(path)
        if parts is None:
            raise _missing(self.name, path)
        return [LEVEL4_DIR, *parts]

    def list_level4(self) -> list[Level4File]:
        """Regular files under level4/, never through a symlink (symlinked files and directories are skipped)."""
        base = self.root / LEVEL4_DIR
        if self.root.is_symlink() or base.is_symlink() or not base.is_dir():
            return []
        found = []
        for directory, subdirs, names in os.walk(base, followlinks=False):
            subdirs[:] = sorted(d for d in subdirs if not (Path(directory) / d).is_symlink())
            for name in sorted(names):
                item = Path(directory) / name
                try:
                    info = item.lstat()
                except FileNotFoundError:  # removed meanwhile (a running action rewrites its outputs)
                    continue
                if stat.S_ISREG(info.st_mode):
                    relative = item.relative_to(base).as_posix()
                    found.append(Level4File(relative, info.st_size, kind_of(relative)))
        return found

    def level4_bytes(self, path: str, max_bytes: int = MAX_READ_BYTES) -> bytes:
        return self._read(self.level4_parts(path), path, max_bytes)

    def read_level4(self, path: str) -> tuple[Level4File, bytes, str]:
        """(the file, its bytes, their sha256), from one read."""
        data = self.level4_bytes(path)
        return Level4File(path, len(data), kind_of(path)), data, hashlib.sha256(data).hexdigest()

    def log(self, action: str) -> str:
        if not ACTION_NAME.fullmatch(action):
            raise NotFound("LOG_NOT_FOUND", f"No log for action {action!r}.")
        try:
            data = self._read(["metadata", f"{action}.log"], f"metadata/{action}.log")
        except NotFound:
            raise NotFound("LOG_NOT_FOUND", f"Workspace {self.name!r} has no log for action {action!r} yet.") from None
        return data.decode("utf-8", errors="replace")


def preview(file: Level4File, data: bytes) -> dict:
    """What a viewer shows: a CSV as a table (its first rows), text as text; images and others by URL."""
    if file.kind == "csv":
        rows = list(csv.reader(io.StringIO(data.decode("utf-8", errors="replace"))))
        return {
            "table": {"header": rows[0] if rows else [], "rows": rows[1 : TABLE_ROWS_SHOWN + 1]},
            "truncated": len(rows) > TABLE_ROWS_SHOWN + 1,
        }
    if file.kind == "text":
        return {
            "text": data[:TEXT_BYTES_SHOWN].decode("utf-8", errors="replace"),
            "truncated": len(data) > TEXT_BYTES_SHOWN,
        }
    return {}
