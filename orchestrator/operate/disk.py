"""What a site keeps on disk, and what it may throw away. Usage by workspace, action runs' job
directories, runs' scratch space, Dagster's storage and the runtime's blobs; clean-up removes only
what nothing uses any more: job directories of runs whose site process is gone (lost) or that never
got a record, scratch of runs that are no longer in progress, workspaces' staging of runs that are
not running and temporary files left by interrupted writes. Never a running job's, never a run kept
for debugging (those go with `orchestrator site kill --cleanup`)."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from orchestrator.operate.runs import Site
from orchestrator.pipeline.status import StatusCode

STALE_SECONDS = 3600  # a temporary file or an unrecorded directory this old is left by a crash
RUN_SCRATCH = Path(tempfile.gettempdir()) / "orchestrator-runs"  # workflows/common.py's run_dir


@dataclass(frozen=True)
class Usage:
    what: str
    path: Path
    bytes: int


@dataclass(frozen=True)
class Removable:
    path: Path
    bytes: int
    why: str


def size_of(path: Path) -> int:
    """Bytes in files under `path`, links not followed (a study's symlink must not count /)."""
    if path.is_symlink() or path.is_file():
        return path.lstat().st_size
    total = 0
    for directory, _, names in os.walk(path):
        for name in names:
            try:
                total += os.lstat(os.path.join(directory, name)).st_size
            except FileNotFoundError:
                pass  # removed while we walked
    return total


def usage(site: Site, dagster_home: Path | None, blob_dir: Path | None) -> list[Usage]:
    rows = [Usage(f"workspace {w.name}", w.path, size_of(w.path)) for w in site.workspaces()]
    rows.append(Usage("job directories", site.job_dirs.root, size_of(site.job_dirs.root)))
    rows.append(Usage("runs' scratch", RUN_SCRATCH, size_of(RUN_SCRATCH)))
    for label, path in (("Dagster storage", dagster_home), ("runtime blobs", blob_dir)):
        if path is not None and path.exists():
            rows.append(Usage(label, path, size_of(path)))
    return rows


def removable(
    site: Site, run_in_progress: Callable[[str], bool | None] | None, now: float | None = None
) -> list[Removable]:
    """What clean-up would remove. `run_in_progress(dagster_run_id)` says whether a run's scratch is in
    use (None: a run it does not know); without an answer only scratch older than a day goes."""
    now = now or time.time()
    found: list[Removable] = []
    live_jobs = set()
    for record in site.job_dirs.records():
        path = site.job_dirs.path(record.job_id)
        if record.live():
            live_jobs.add(record.job_id)
        elif not record.finished:  # its site process is gone; `retry` cannot resume it (no record of a cause)
            found.append(Removable(path, size_of(path), f"lost run of {record.action} in {record.workspace}"))
    for path in site.job_dirs.unrecorded():
        if now - path.stat().st_mtime > STALE_SECONDS:
            found.append(Removable(path, size_of(path), "job directory without a record"))
    if RUN_SCRATCH.is_dir():
        for path in RUN_SCRATCH.iterdir():
            in_use = run_in_progress(path.name) if run_in_progress else None
            if in_use is None:
                in_use = now - path.stat().st_mtime < 86400
            if not in_use:
                found.append(Removable(path, size_of(path), "scratch of a run no longer in progress"))
    for workspace in site.workspaces():
        staging = workspace.metadata_dir / ".staging"
        if staging.is_dir():
            for path in staging.iterdir():
                if path.name not in live_jobs and now - path.stat().st_mtime > 60:
                    found.append(
                        Removable(path, size_of(path), f"staged outputs of a run that is over ({workspace.name})")
                    )
        found += _stale_temporaries(workspace.metadata_dir, now)
    return found


def _stale_temporaries(directory: Path, now: float) -> Iterable[Removable]:
    if not directory.is_dir():
        return []
    return [
        Removable(path, path.lstat().st_size, "temporary file of an interrupted write")
        for path in directory.glob(".*.tmp")
        if now - path.lstat().st_mtime > STALE_SECONDS
    ]


def remove(items: Iterable[Removable], site: Site) -> int:
    """Remove them; the bytes freed. A lost run's action processes are ended first."""
    freed = 0
    for item in items:
        record = site.job_dirs.read(item.path.name) if item.path.parent == site.job_dirs.root else None
        if record is not None:
            if record.live():
                continue  # it came back to life since it was listed: never a running job's
            if site.job_dirs.action_alive(record):
                site.job_dirs.request_kill(record.job_id)
            site.job_dirs.update(record.job_id, state="finished", status_code=StatusCode.INTERNAL_ERROR.value)
        if item.path.is_dir() and not item.path.is_symlink():
            shutil.rmtree(item.path, ignore_errors=True)
        else:
            item.path.unlink(missing_ok=True)
        freed += item.bytes
    return freed
