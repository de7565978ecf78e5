"""Pack a study directory into a .tar.gz for submission, and unpack a submitted one safely: every
member is checked before anything is written. Refused: absolute names, `..` components, links (soft
or hard) that resolve outside the study, members reached through a link, devices and FIFOs, and
archives larger than a limit.
"""

from __future__ import annotations

import ntpath
import posixpath
import tarfile
from dataclasses import dataclass
from pathlib import Path

MAX_MEMBERS = 100_000
MAX_TOTAL_BYTES = 2 * 1024**3
_MAX_LINK_HOPS = 40


@dataclass(frozen=True)
class ArchiveProblem:
    code: str
    member: str
    message: str

    def __str__(self) -> str:
        return f"{self.member}: {self.message}"


class UnsafeArchiveError(ValueError):
    """The archive cannot be extracted; `problems` lists every reason, member by member."""

    def __init__(self, problems: list[ArchiveProblem]):
        self.problems = problems
        lines = "\n".join(f"  {problem}" for problem in problems)
        super().__init__(f"refusing to extract the study archive ({len(problems)} problem(s)):\n{lines}")


PACK_SKIPPED = (".git", "__pycache__", ".venv")


def pack_directory(directory: Path, archive: Path) -> None:
    """tar.gz with members relative to `directory`; no absolute paths, symlinks stored as links.

    A study's `workspace/` (what `orchestrator run` wrote: outputs of every privacy level, logs) is
    left out: submitting the code must never ship highly_sensitive results along with it."""
    is_study = (directory / "project.yaml").is_file()
    with tarfile.open(archive, "w:gz") as tar:
        for item in sorted(directory.rglob("*")):
            parts = item.relative_to(directory).parts
            if any(part in PACK_SKIPPED for part in parts) or (is_study and parts[0] == "workspace"):
                continue
            tar.add(item, arcname=str(item.relative_to(directory)), recursive=False)


def extract_study(tar_gz: str | Path, target: str | Path) -> list[str]:
    """Extract the study archive `tar_gz` into `target`; the member names extracted.
    Raises UnsafeArchiveError, having written nothing, if any member is unsafe."""
    with tarfile.open(tar_gz, "r:*") as archive:
        members = archive.getmembers()
        problems = archive_problems(members)
        if problems:
            raise UnsafeArchiveError(problems)
        target = Path(target)
        target.mkdir(parents=True, exist_ok=True)
        archive.extractall(target, members=members, filter="data")  # a second line of defence
    return [member.name for member in members]


def archive_problems(members: list[tarfile.TarInfo]) -> list[ArchiveProblem]:
    problems = []
    if len(members) > MAX_MEMBERS:
        problems.append(ArchiveProblem("TOO_MANY_MEMBERS", "*", f"more than {MAX_MEMBERS} members"))
    total = sum(member.size for member in members if member.isfile())
    if total > MAX_TOTAL_BYTES:
        problems.append(ArchiveProblem("TOO_LARGE", "*", f"{total} bytes unpacked; the limit is {MAX_TOTAL_BYTES}"))
    links = {_normal(m.name): m for m in members if m.issym()}
    for member in members:
        problem = _member_problem(member, links)
        if problem:
            problems.append(ArchiveProblem(problem[0], member.name, problem[1]))
    return problems


def _member_problem(member: tarfile.TarInfo, links: dict) -> tuple[str, str] | None:
    name = member.name
    if name.startswith(("/", "\\")) or ntpath.splitdrive(name)[0]:
        return "ABSOLUTE_PATH", "an absolute path; members must be relative to the study"
    if ".." in name.replace("\\", "/").split("/"):
        return "PARENT_PATH", "contains '..', which would climb out of the study"
    if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
        return "SPECIAL_FILE", "a device or FIFO; a study holds only files, directories and links"
    parent = _resolve(posixpath.dirname(_normal(name)), links)
    if parent is None or parent != posixpath.dirname(_normal(name)):
        return "THROUGH_LINK", "is reached through a link; members may not be written via links"
    if member.issym():
        if member.linkname.startswith("/") or ntpath.splitdrive(member.linkname)[0]:
            return "LINK_OUTSIDE", f"a symlink to the absolute path {member.linkname!r}"
        joined = posixpath.join(posixpath.dirname(_normal(name)), member.linkname)
        if _resolve(joined, links) is None:
            return "LINK_OUTSIDE", f"a symlink to {member.linkname!r}, which is outside the study"
    if member.islnk():
        if _resolve(member.linkname, links) is None or member.linkname.startswith("/"):
            return "LINK_OUTSIDE", f"a hard link to {member.linkname!r}, which is outside the study"
    return None


def _normal(name: str) -> str:
    return posixpath.normpath(name.replace("\\", "/")).lstrip("/")


def _resolve(path: str, links: dict) -> str | None:
    """Where `path` (relative to the study root) really points, following the archive's own
    symlinks component by component; None if it ever climbs above the root."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    resolved: list[str] = []
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if not resolved:
                return None
            resolved.pop()
            continue
        candidate = "/".join([*resolved, part])
        link = links.get(candidate)
        if link is None:
            resolved.append(part)
            continue
        hops += 1
        if hops > _MAX_LINK_HOPS or link.linkname.startswith("/"):
            return None
        parts = [p for p in link.linkname.split("/") if p not in ("", ".")] + parts
    return "/".join(resolved)
