"""Find an action's outputs in its job directory: declared patterns matched against files the action
created, never through a symlink, never outside the job directory; and, when a pattern matches
nothing, a hint naming the files it probably meant (same extension, similar name).
"""

from __future__ import annotations

import difflib
import glob
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath

from orchestrator.pipeline.patterns import file_suffix
from orchestrator.pipeline.project import Action
from orchestrator.pipeline.workspace import RESERVED_DIRS

Snapshot = Mapping[str, tuple[int, int, int]]  # relative path -> (inode, size, mtime_ns)


@dataclass
class Collected:
    outputs: dict[str, str] = field(default_factory=dict)  # relative path -> level
    unmatched: list[str] = field(default_factory=list)  # patterns that matched nothing usable
    rejected: dict[str, str] = field(default_factory=dict)  # relative path -> why it was refused
    created: list[str] = field(default_factory=list)  # every regular file the action made


def snapshot(job_dir: Path) -> dict[str, tuple[int, int, int]]:
    """Every regular file under `job_dir` (symlinked directories are not followed)."""
    files = {}
    for directory, _, names in os.walk(job_dir):
        for name in names:
            path = os.path.join(directory, name)
            info = os.lstat(path)
            if stat.S_ISREG(info.st_mode):
                relative = os.path.relpath(path, job_dir).replace(os.sep, "/")
                files[relative] = (info.st_ino, info.st_size, info.st_mtime_ns)
    return files


def collect_outputs(job_dir: Path, action: Action, before: Snapshot) -> Collected:
    after = snapshot(job_dir)
    result = Collected(created=sorted(p for p, facts in after.items() if before.get(p) != facts))
    made = set(result.created)
    for level, _, pattern in action.output_patterns:
        usable = []
        for relative in sorted(glob.glob(pattern, root_dir=job_dir)):
            why = refusal(job_dir, relative)
            if why:
                result.rejected[relative] = why
            elif relative in made:
                usable.append(relative)
        if not usable:
            result.unmatched.append(pattern)
        for relative in usable:
            result.outputs.setdefault(relative, level)
    return result


def refusal(job_dir: Path, relative: str) -> str | None:
    """Why a matched path may not become an output, or None if it may."""
    parts = PurePosixPath(relative).parts
    if parts[0] in RESERVED_DIRS:
        return f"it is inside {parts[0]}/, which the orchestrator reserves"
    path = job_dir
    for index, part in enumerate(parts):
        path = path / part
        info = os.lstat(path)
        if stat.S_ISLNK(info.st_mode):
            where = "it is" if index == len(parts) - 1 else f"{'/'.join(parts[: index + 1])} is"
            return f"{where} a symbolic link; outputs must be regular files inside the job directory"
    if not stat.S_ISREG(info.st_mode):
        return "it is not a regular file"
    return None


def matches_pattern(relative: str, pattern: str) -> bool:
    """Glob semantics for our patterns: `*` never crosses a `/`."""
    parts, pattern_parts = relative.split("/"), pattern.split("/")
    return len(parts) == len(pattern_parts) and all(
        fnmatchcase(part, wanted) for part, wanted in zip(parts, pattern_parts, strict=True)
    )


def unmatched_message(collected: Collected) -> str:
    """job-runner's 'Did you mean...' help, with near misses found for each pattern."""
    spare = [path for path in collected.created if path not in collected.outputs]
    lines = ["No outputs found matching these patterns:"]
    for pattern in collected.unmatched:
        near = near_misses(pattern, spare)
        hint = f" (did you mean {', '.join(near)}?)" if near else ""
        lines.append(f"  - {pattern}{hint}")
    for path, why in sorted(collected.rejected.items()):
        lines.append(f"Refused {path}: {why}")
    if spare:
        listed = spare[:10] + ([f"... and {len(spare) - 10} more"] if len(spare) > 10 else [])
        lines.append("Files the action created that no pattern matched: " + ", ".join(listed))
    else:
        lines.append("The action created no files that could be outputs.")
    return "\n".join(lines)


def near_misses(pattern: str, candidates: list[str], limit: int = 3) -> list[str]:
    similar = difflib.get_close_matches(pattern, candidates, n=limit, cutoff=0.6)
    same_type = [c for c in candidates if file_suffix(c) == file_suffix(pattern) and c not in similar]
    return (similar + same_type)[:limit]
