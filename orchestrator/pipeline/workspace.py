"""A persistent workspace per name: outputs at their declared paths, `level4/` with what may be
viewed, `metadata/<action>.log` and `metadata/manifest.json` (each file's level, job, size, sha256;
each action's last outcome). Every manifest change is read-modify-write under an fcntl lock and
lands by os.replace, so two processes never tear it or lose each other's updates.

Layout (`<root>/<name>/`):
    output/...                    every collected output, at the path its pattern matched
    level4/output/x.csv           moderately_sensitive files that passed Level 4 checks
    level4/output/y.csv.txt       ... or why one was withheld
    metadata/<action>.log         the action's stdout+stderr, then a trailer
    metadata/manifest.json        {"workspace", "files": {path: ...}, "actions": {name: ...}}
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import socket
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType

from orchestrator.pipeline.patterns import LEVEL4_LEVEL, METADATA_DIR
from orchestrator.pipeline.processes import pid_alive
from orchestrator.pipeline.status import ActionResult, State, StatusCode

LEVEL4_DIR = "level4"
RESERVED_DIRS = (METADATA_DIR, LEVEL4_DIR)  # never outputs: the orchestrator writes these
MANIFEST_FILE = "manifest.json"
_LOCK_FILE = ".manifest.lock"
_STAGING_DIR = ".staging"
_CHUNK = 1 << 20


def isoformat(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")


class WorkspaceError(Exception):
    """The workspace on disk cannot be used as it is (a damaged manifest); the message says what to do."""


@dataclass(frozen=True)
class ActionRecord:
    """An action's last run as the manifest has it (what `plan_actions` decides from)."""

    state: State
    status_code: str
    job_id: str | None
    outputs: tuple[str, ...]
    outputs_exist: bool
    request_id: str | None = None  # of the run that has it now, or last had it (when recorded)


@dataclass(frozen=True)
class WorkspaceState:
    name: str
    actions: Mapping[str, ActionRecord]
    running: frozenset[str] = frozenset()  # actions a live process is running now


class Workspace:
    def __init__(self, path: str | Path, name: str | None = None):
        self.path = Path(path).absolute()
        self.name = name or self.path.name
        self.metadata_dir = self.path / METADATA_DIR
        self.level4_dir = self.path / LEVEL4_DIR
        self.manifest_path = self.metadata_dir / MANIFEST_FILE

    @classmethod
    def open(cls, root: str | Path, name: str) -> Workspace:
        """The workspace called `name` under `root` (created on first write)."""
        if not name or name in (".", "..") or "/" in name or "\\" in name:
            raise ValueError(f"workspace name {name!r} must be a plain directory name")
        return cls(Path(root) / name, name)

    def log_path(self, action: str) -> Path:
        return self.metadata_dir / f"{action}.log"

    # -- the manifest -------------------------------------------------------------------------

    @contextmanager
    def locked(self) -> Iterator[None]:
        self.metadata_dir.mkdir(parents=True, exist_ok=True)
        with open(self.metadata_dir / _LOCK_FILE, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def read_manifest(self) -> dict:
        """The manifest as last written (no lock needed: writes are atomic replaces)."""
        try:
            manifest = json.loads(self.manifest_path.read_text())
        except FileNotFoundError:
            manifest = {}
        except (ValueError, UnicodeDecodeError) as exc:  # only a hand edit can do this: writes are atomic
            raise WorkspaceError(
                f"{self.manifest_path} is not valid JSON ({exc}); restore it, or remove the workspace to start afresh"
            ) from None
        if not isinstance(manifest, dict):
            raise WorkspaceError(f"{self.manifest_path} is not a JSON object; restore it, or remove the workspace")
        manifest.setdefault("workspace", self.name)
        manifest.setdefault("files", {})
        manifest.setdefault("actions", {})
        return manifest

    def update_manifest(self, change: Callable[[dict], None]) -> dict:
        with self.locked():
            manifest = self.read_manifest()
            change(manifest)
            _write_atomically(self.manifest_path, json.dumps(manifest, indent=2, sort_keys=True))
            return manifest

    def state(self) -> WorkspaceState:
        manifest = self.read_manifest()
        records, running = {}, set()
        for name, entry in manifest["actions"].items():
            state = State(entry.get("state", State.FAILED.value))
            code = entry.get("status_code", "")
            if state is State.RUNNING:
                if _is_alive(entry):
                    running.add(name)
                else:  # its process died without finishing: job-runner marks such jobs failed
                    state, code = State.FAILED, StatusCode.INTERNAL_ERROR.value
            outputs = tuple(entry.get("outputs", ()))
            present = all((self.path / output).is_file() for output in outputs)
            records[name] = ActionRecord(state, code, entry.get("job_id"), outputs, present, entry.get("request_id"))
        return WorkspaceState(self.name, MappingProxyType(records), frozenset(running))

    def start_action(
        self, action: str, job_id: str, owner: str, started_at: float, request_id: str | None = None
    ) -> str | None:
        """Mark `action` running for `owner` (an engine run id) of request `request_id`; None if that
        worked, else the job id of the live run that already has it (the caller waits on that instead).
        The request id is kept so that another request waiting on this run can say whose run it is."""
        taken: list[str] = []

        def start(manifest: dict) -> None:
            entry = manifest["actions"].get(action, {})
            if entry.get("state") == State.RUNNING.value and entry.get("owner") != owner:
                if _is_alive(entry):
                    taken.append(entry.get("job_id") or "?")
                    return
            manifest["actions"][action] = {
                **{key: entry[key] for key in ("outputs",) if key in entry},
                "state": State.RUNNING.value,
                "status_code": StatusCode.EXECUTING.value,
                "status_message": "running",
                "job_id": job_id,
                "started_at": isoformat(started_at),
                "finished_at": None,
                "owner": owner,
                **({"request_id": request_id} if request_id else {}),
                "pid": os.getpid(),
                "host": socket.gethostname(),
            }

        self.update_manifest(start)
        return taken[0] if taken else None

    # -- outputs --------------------------------------------------------------------------------

    def stage(self, job_id: str, relative: str, source: Path) -> tuple[Path, int, str]:
        """Copy `source` into this workspace's staging area; (staged path, size, sha256)."""
        staged = self.metadata_dir / _STAGING_DIR / job_id / relative
        staged.parent.mkdir(parents=True, exist_ok=True)
        digest, size = hashlib.sha256(), 0
        with open(source, "rb") as src, open(staged, "wb") as dst:
            while chunk := src.read(_CHUNK):
                digest.update(chunk)
                dst.write(chunk)
                size += len(chunk)
        return staged, size, digest.hexdigest()

    def finish_action(self, result: ActionResult, staged: Mapping[str, Path] | None = None, log_text: str = "") -> None:
        """Record `result`. On success its staged outputs replace the action's previous ones
        (files it no longer produces are removed) and moderately_sensitive files are released
        to level4/ or withheld with a reason; a failed run leaves earlier outputs in place."""
        if log_text:
            _write_atomically(self.log_path(result.action), log_text)

        def finish(manifest: dict) -> None:
            previous = manifest["actions"].get(result.action, {})
            entry = {
                "state": result.state.value,
                "status_code": result.status_code.value,
                "status_message": result.message,
                "job_id": result.job_id,
                "started_at": isoformat(result.started_at),
                "finished_at": isoformat(result.finished_at),
                "exit_code": result.exit_code,
                "outputs": previous.get("outputs", []),
                **({"peak_memory_bytes": result.peak_memory_bytes} if result.peak_memory_bytes is not None else {}),
                **({"cpu_seconds": result.cpu_seconds} if result.cpu_seconds is not None else {}),
            }
            if previous.get("job_id") == result.job_id and previous.get("request_id"):
                entry["request_id"] = previous["request_id"]  # the run this result ends
            if result.ok:
                self._replace_outputs(manifest, result, staged or {})
                entry["outputs"] = sorted(output.path for output in result.outputs)
            manifest["actions"][result.action] = entry

        self.update_manifest(finish)
        shutil.rmtree(self.metadata_dir / _STAGING_DIR / result.job_id, ignore_errors=True)

    def _replace_outputs(self, manifest: dict, result: ActionResult, staged: Mapping[str, Path]):
        files = manifest["files"]
        new = {output.path for output in result.outputs}
        for path, entry in list(files.items()):
            if entry.get("action") == result.action or path in new:
                self._remove_file(path)
                del files[path]
        created = isoformat(result.finished_at)
        for output in result.outputs:
            target = self.path / output.path
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged[output.path], target)
            files[output.path] = {
                "level": output.level,
                "job_id": result.job_id,
                "action": result.action,
                "size": output.size,
                "sha256": output.sha256,
                "created_at": created,
            }
            if output.level == LEVEL4_LEVEL:
                files[output.path].update(self._release(output))

    def _release(self, output) -> dict:
        viewable = self.level4_dir / output.path
        viewable.parent.mkdir(parents=True, exist_ok=True)
        if output.withheld:
            _write_atomically(viewable.with_name(viewable.name + ".txt"), output.withheld + "\n")
            return {"viewable": False, "withheld_reason": output.withheld}
        temporary = viewable.with_name(f".{viewable.name}.tmp")
        shutil.copyfile(self.path / output.path, temporary)
        os.replace(temporary, viewable)
        return {"viewable": True}

    def _remove_file(self, relative: str) -> None:
        viewable = self.level4_dir / relative
        for path in (self.path / relative, viewable, viewable.with_name(viewable.name + ".txt")):
            path.unlink(missing_ok=True)

    def output_files(self, actions: Iterable[str]) -> list[tuple[str, str]]:
        """(path, level) of every file the manifest says `actions` produced."""
        wanted = set(actions)
        return [
            (path, entry["level"])
            for path, entry in sorted(self.read_manifest()["files"].items())
            if entry.get("action") in wanted
        ]

    def stray_files(self) -> list[str]:
        """Files in the workspace the manifest does not know: something wrote here directly.
        They are never outputs (never copied to a job, never released), only reported."""
        known = set(self.read_manifest()["files"])
        stray = []
        for directory, subdirs, names in os.walk(self.path):
            relative_dir = os.path.relpath(directory, self.path)
            if relative_dir == ".":
                subdirs[:] = [d for d in subdirs if d not in RESERVED_DIRS]
            for name in names:
                relative = os.path.normpath(os.path.join(relative_dir, name))
                if relative not in known:
                    stray.append(relative)
        return sorted(stray)


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as file:
            file.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _is_alive(entry: Mapping) -> bool:
    if entry.get("host") != socket.gethostname() or not isinstance(entry.get("pid"), int):
        return False
    return pid_alive(entry["pid"])
