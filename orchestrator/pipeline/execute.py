"""Run one action (an action run; "job" means only a runtime job) in a fresh job directory, as
job-runner names it, and collect what it made into the workspace.

Executor contract (`run_action` runs the steps in order; each failure is an ActionResult, never a raise)
  prepare  May assume: every action in `needs` SUCCEEDED and the manifest lists its outputs, which
           are in the workspace; the project dir holds the study's code.
           Guarantees: a new temporary directory outside the workspace and the project, holding a
           copy of the code (minus the workspace, metadata/, level4/, .git and every file a declared
           output pattern matches) and copies (never links) of the needs' outputs at their
           workspace paths. Failure: INTERNAL_ERROR (unmapped image, missing input).
  execute  May assume: a prepared job dir and an argv from the site's image map.
           Guarantees: the process ran in its own process group, cwd the job dir, stdin closed,
           stdout+stderr into one log kept outside the job dir; RLIMIT_AS set when a memory limit
           is given; the whole group killed on timeout, on `ActionHandle.kill` and when it ended.
           Failure: JOB_TIMEOUT, CANCELLED_BY_USER/KILLED_BY_ADMIN/WAITING_DB_MAINTENANCE (the kill's code),
           OUT_OF_MEMORY, NONZERO_EXIT.
  finalize May assume: the process group is gone.
           Guarantees: only regular files inside the job dir, reached without symlinks, created or
           changed by the action and matched by a declared pattern are collected (collect.py);
           moderately_sensitive ones pass Level 4 or are withheld; metadata/<action>.log is always
           written, outputs only on success, in one manifest update; the job dir is removed.
           Failure: UNMATCHED_PATTERNS with a hint.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from orchestrator.pipeline.collect import collect_outputs, matches_pattern, snapshot, unmatched_message
from orchestrator.pipeline.images import ImageMap
from orchestrator.pipeline.jobdirs import JobDirs, JobRecord
from orchestrator.pipeline.level4 import level4_problems, withheld_reason
from orchestrator.pipeline.patterns import LEVEL4_LEVEL
from orchestrator.pipeline.project import Action, Project
from orchestrator.pipeline.status import ActionResult, OutputFile, StatusCode
from orchestrator.pipeline.workspace import RESERVED_DIRS, Workspace

LOG_TAIL_LINES = 20
# What an action inherits from the site's environment: enough to run a program and read text, never
# the site's credentials (ORCHESTRATOR_CLIENT_SECRET, database URLs, cloud keys) -- study code is untrusted.
# A database action gets DATABASE_URL from its ActionRun, never from the site's own environment.
ACTION_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "USER", "LOGNAME")
MAX_LOG_BYTES = 32 * 1024 * 1024
STREAM_READ_BYTES = 1 << 20  # of a followed action's output per read
# What an interpreter prints when an allocation fails (Python, R, C++, glibc).
OOM_MARKERS = ("MemoryError", "cannot allocate vector", "std::bad_alloc", "Cannot allocate memory")
_CODE_EXCLUDED = {".git", "workspace", *RESERVED_DIRS}  # at the top of the project dir


@dataclass(frozen=True)
class Limits:
    timeout: float | None = None  # seconds of wall time per action
    memory: int | None = None  # bytes of address space (RLIMIT_AS) per action


NO_LIMITS = Limits()  # frozen, so one shared default is safe


@dataclass(frozen=True)
class ActionRun:
    """What one run of an action needs. `job_id` is job-runner's id of that run (the manifest and the
    action's ORCHESTRATOR_JOB_ID keep its name), not a runtime job."""

    action: Action
    job_id: str
    project: Project
    project_dir: Path
    workspace: Workspace
    image_map: ImageMap = field(default_factory=ImageMap)
    limits: Limits = NO_LIMITS
    # The URL of the database the job request names; only a database action is given it, as DATABASE_URL.
    database_url: str | None = field(default=None, repr=False)
    # Where the site keeps its action runs (jobdirs.py), so another process can find, follow and kill them;
    # None (the local `orchestrator run`): a temporary directory, always removed.
    job_dirs: JobDirs | None = None
    request_id: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)  # runtime job, operation, Dagster run ids


class ActionHandle:
    """Lets another thread stop an action run (`kill(code)` kills its process group, now or at start) and,
    made with `follow_output`, read its output while it is written (`new_output()`), so a Dagster
    step can show it live."""

    def __init__(self, follow_output: bool = False) -> None:
        self._lock = threading.Lock()
        self._pid: int | None = None
        self.killed_with: StatusCode | None = None
        self.kill_message = ""  # why, when the code alone does not say it (a run's maximum runtime)
        self._follow_output = follow_output
        self._log: Path | None = None
        self._read = 0  # bytes of the log already taken
        self._rest = b""  # taken but not yet handed out (a line still being written, or the end)

    def attach(self, pid: int) -> None:
        with self._lock:
            self._pid = pid
            if self.killed_with:
                _kill_group(pid)

    def kill(self, code: StatusCode, message: str = "") -> None:
        with self._lock:
            if not self.killed_with:
                self.killed_with, self.kill_message = code, message
            if self._pid is not None:
                _kill_group(self._pid)

    def follow(self, log_file: Path) -> None:
        with self._lock:
            self._log = log_file if self._follow_output else None

    def stop_following(self) -> None:
        """Keep what is not yet handed out: the log is about to be removed with the job's scratch."""
        with self._lock:
            self._take()
            self._log = None

    def new_output(self) -> list[str]:
        """Lines written since the last call: complete ones while the action runs, all of the rest
        once it has ended."""
        with self._lock:
            self._take()
            lines = self._rest.split(b"\n")
            self._rest = lines.pop() if self._log is not None else b""
            if lines and not lines[-1] and self._log is None:
                lines.pop()  # the empty piece after a final newline
            if len(self._rest) > STREAM_READ_BYTES:  # a line with no end (a progress bar): not kept whole
                lines.append(self._rest)
                self._rest = b""
            return [line.decode(errors="replace") for line in lines]

    def _take(self) -> None:
        if self._log is None:
            return
        try:
            with open(self._log, "rb") as log:
                log.seek(self._read)
                chunk = log.read(STREAM_READ_BYTES)  # a flood is read on at the next call, not all at once
        except FileNotFoundError:
            return
        self._read += len(chunk)
        self._rest += chunk


def run_action(spec: ActionRun, handle: ActionHandle | None = None) -> ActionResult:
    handle = handle or ActionHandle()
    resumed = None
    if spec.job_dirs:
        resumed = spec.job_dirs.take_retry(spec.workspace.name, spec.action.name, spec.job_id)
        record = JobRecord(spec.job_id, spec.action.name, spec.workspace.name, request_id=spec.request_id)
        scratch = resumed or spec.job_dirs.start(replace(record, labels=dict(spec.labels)))
        if resumed:
            spec.job_dirs.update(spec.job_id, labels=dict(spec.labels), request_id=spec.request_id)
    else:
        scratch = Path(tempfile.mkdtemp(prefix=f"orchestrator-{spec.action.name}-{spec.job_id}-"))
    result = None
    try:
        result = _run(spec, handle, scratch, resumed=resumed is not None)
    except Exception as exc:  # a bug or an OS failure of ours: still a result, still recorded
        result = _result(spec, StatusCode.INTERNAL_ERROR, f"{type(exc).__name__}: {exc}")
        spec.workspace.finish_action(result, log_text=result.message + "\n")
        result = _with_log(result, spec)
    finally:
        handle.stop_following()
        if not spec.job_dirs:
            shutil.rmtree(scratch, ignore_errors=True)
        elif result is None:  # interrupted (the run was terminated): kept, as an internal error is
            spec.job_dirs.finish(spec.job_id, StatusCode.INTERNAL_ERROR.value, "interrupted")
        else:  # removed unless an administrator killed it or it ended in an internal error
            spec.job_dirs.finish(
                spec.job_id,
                result.status_code.value,
                result.message,
                peak_memory_bytes=result.peak_memory_bytes,
                cpu_seconds=result.cpu_seconds,
            )
    return result


def _run(spec: ActionRun, handle: ActionHandle, scratch: Path, resumed: bool = False) -> ActionResult:
    """`resumed`: `orchestrator site retry` kept this job directory from a run that failed INTERNAL_ERROR; the
    action runs again in it as it is, and what either attempt made is collected."""
    argv = spec.image_map.command_for(spec.action)
    failure = argv if isinstance(argv, str) else None if resumed else _prepare(spec, scratch / "job")
    if failure:
        result = _result(spec, StatusCode.INTERNAL_ERROR, failure)
        spec.workspace.finish_action(result, log_text=result.message + "\n")
        return _with_log(result, spec)
    job_dir, log_file = scratch / "job", scratch / "action.log"
    before = spec.job_dirs.load_snapshot(spec.job_id) if resumed else None
    before = snapshot(job_dir) if before is None else before
    if spec.job_dirs and not resumed:
        spec.job_dirs.save_snapshot(spec.job_id, before)
    started, exit_code, finished, usage = _execute(spec, argv, job_dir, log_file, handle)
    output_text = _read_log(log_file)
    tail = tuple(output_text.splitlines()[-LOG_TAIL_LINES:])
    timing = dict(started_at=started, finished_at=finished, exit_code=exit_code, log_tail=tail, **usage)
    failed = _exit_failure(spec, handle, exit_code, tail)
    staged: dict[str, Path] = {}
    if failed:
        result = _result(spec, *failed, **timing)
    else:
        result, staged = _finalize(spec, job_dir, before, timing)
    spec.workspace.finish_action(result, staged, output_text + _trailer(spec, argv, result))
    return _with_log(result, spec)


def _prepare(spec: ActionRun, job_dir: Path) -> str | None:
    patterns = [pattern for action in spec.project for _, _, pattern in action.output_patterns]
    _copy_code(spec.project_dir, job_dir, spec.workspace.path, patterns)
    for relative, _ in spec.workspace.output_files(spec.action.needs):
        source, target = spec.workspace.path / relative, job_dir / relative
        if not source.is_file():
            return (
                f"input {relative} (an output of {', '.join(spec.action.needs)}) is missing "
                f"from workspace {spec.workspace.name}; run its action again (-f)"
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    return None


def _copy_code(project_dir: Path, job_dir: Path, workspace_dir: Path, patterns: list[str]) -> None:
    project_dir, skip_dir = project_dir.resolve(), workspace_dir.resolve()
    for directory, subdirs, names in os.walk(project_dir):
        here = Path(directory)
        relative_dir = here.relative_to(project_dir)
        subdirs[:] = [
            d for d in subdirs if not (relative_dir == Path(".") and d in _CODE_EXCLUDED) and here / d != skip_dir
        ]
        for name in names:
            source, relative = here / name, (relative_dir / name).as_posix()
            if source.is_symlink() or any(matches_pattern(relative, p) for p in patterns):
                continue  # study links are not followed; old outputs are not code
            target = job_dir / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
    job_dir.mkdir(parents=True, exist_ok=True)


def _execute(spec, argv, job_dir, log_file, handle) -> tuple[float | None, int | None, float, dict]:
    env = {
        **{name: os.environ[name] for name in ACTION_ENV if name in os.environ},  # never the site's secrets
        "PYTHONUNBUFFERED": "1",
        "ORCHESTRATOR_ACTION": spec.action.name,
        "ORCHESTRATOR_JOB_ID": spec.job_id,
        **({"DATABASE_URL": spec.database_url} if spec.database_url and spec.action.is_database_action else {}),
    }
    usage_file = log_file.with_name(USAGE_FILE)
    usage_file.unlink(missing_ok=True)  # an earlier attempt's, in a retried job directory
    with open(log_file, "wb") as log:
        handle.follow(log_file)
        process = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _SUPERVISOR, str(usage_file), str(spec.limits.memory or 0), *argv],
            cwd=job_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        started = time.time()
        if spec.job_dirs:
            spec.job_dirs.update(spec.job_id, pid=process.pid)
        handle.attach(process.pid)
        timer = None
        if spec.limits.timeout:
            timer = threading.Timer(spec.limits.timeout, handle.kill, (StatusCode.JOB_TIMEOUT,))
            timer.daemon = True
            timer.start()
        exit_code = _wait(process, lambda: _check_kill(spec, handle))
        _check_kill(spec, handle)  # `site kill` may have ended the group before this process saw its mark
        if timer:
            timer.cancel()
        _kill_group(process.pid)  # whatever it left behind
        usage, start_error = _read_usage(usage_file)
        if start_error:
            log.write(f"could not start {argv[0]!r}: {start_error}\n".encode())
            return None, None, time.time(), {}
    return started, exit_code, time.time(), usage


def _check_kill(spec: ActionRun, handle: ActionHandle) -> None:
    """`orchestrator site kill` leaves a mark in the run's directory, from any process: end it so."""
    if spec.job_dirs and spec.job_dirs.kill_requested(spec.job_id):
        handle.kill(StatusCode.KILLED_BY_ADMIN)


def _wait(process: subprocess.Popen, on_tick) -> int:
    """Wait for the action, calling `on_tick` while it runs: soon after the start (most actions are
    short), then every quarter of a second."""
    delay = 0.01
    while process.poll() is None:
        on_tick()
        time.sleep(delay)
        delay = min(delay * 2, 0.25)
    return process.returncode


# The action's parent, in the action's process group: it sets the memory limit in the child alone, runs
# the action, and writes the action's own peak memory and CPU time (wait4) to USAGE_FILE, then ends as
# the action did (the same exit code, or killed by the same signal, so an OOM kill still reads as one).
# Measured here rather than by our wait4: a child made by our fork (or vfork) inherits our peak memory
# until it execs, and the kernel keeps that figure; this small process's floor is about 10 MB. A tiny
# interpreter rather than Popen's preexec_fn, which Python documents as unsafe while other threads
# start processes (ours do).
_SUPERVISOR = """
import os, resource, signal, sys
usage_file, limit, argv = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
pid = os.fork()
if pid == 0:
    try:
        for name in ("SIGPIPE", "SIGXFSZ"):
            signal.signal(getattr(signal, name), signal.SIG_DFL)
        if limit:
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        os.execvp(argv[0], argv)
    except OSError as error:
        with open(usage_file, "w") as file:
            file.write("error " + (error.strerror or str(error)))
    os._exit(127)
_, status, usage = os.wait4(pid, 0)
if not os.path.exists(usage_file):
    with open(usage_file, "w") as file:
        file.write("usage %d %.3f" % (usage.ru_maxrss * 1024, usage.ru_utime + usage.ru_stime))
if os.WIFSIGNALED(status):
    signal.signal(os.WTERMSIG(status), signal.SIG_DFL)
    os.kill(os.getpid(), os.WTERMSIG(status))
os._exit(os.waitstatus_to_exitcode(status))
"""
USAGE_FILE = "usage"


def _read_usage(usage_file: Path) -> tuple[dict, str | None]:
    """({peak_memory_bytes, cpu_seconds}, None), or ({}, why it could not start); ({}, None) when the
    supervisor was killed before it could write (a kill of the whole group: no figures)."""
    try:
        kind, _, rest = usage_file.read_text().partition(" ")
    except FileNotFoundError:
        return {}, None
    if kind == "error":
        return {}, rest
    peak, cpu = rest.split()
    return {"peak_memory_bytes": int(peak), "cpu_seconds": round(float(cpu), 3)}, None


def _read_log(log_file: Path) -> str:
    """The action's output; only its end if it is huge (the log is for reading, not archiving)."""
    if not log_file.exists():
        return ""
    size = log_file.stat().st_size
    with open(log_file, "rb") as file:
        file.seek(max(0, size - MAX_LOG_BYTES))
        text = file.read().decode(errors="replace")
    return text if size <= MAX_LOG_BYTES else f"[... first {size - MAX_LOG_BYTES} bytes cut ...]\n{text}"


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _exit_failure(spec, handle, exit_code, tail) -> tuple[StatusCode, str] | None:
    limits = spec.limits
    memory = f" (limit for this job was {limits.memory / 2**30:.2f}GB)" if limits.memory else ""
    oom = any(marker in line for line in tail for marker in OOM_MARKERS) or (
        limits.memory is not None and exit_code == -signal.SIGKILL and not handle.killed_with
    )
    signal_name = _signal_name(exit_code)
    cases = (
        (exit_code is None, StatusCode.INTERNAL_ERROR, "could not start the action: " + " ".join(tail)),
        (
            handle.killed_with is StatusCode.JOB_TIMEOUT,
            StatusCode.JOB_TIMEOUT,
            handle.kill_message
            or (f"timed out after {limits.timeout:g}s; its processes were killed" if limits.timeout else ""),
        ),
        (
            handle.killed_with is StatusCode.CANCELLED_BY_USER,
            StatusCode.CANCELLED_BY_USER,
            "cancelled by user while running; its processes were killed",
        ),
        (
            handle.killed_with is StatusCode.KILLED_BY_ADMIN,
            StatusCode.KILLED_BY_ADMIN,
            "killed by an administrator while running",
        ),
        (
            handle.killed_with is StatusCode.WAITING_DB_MAINTENANCE,
            StatusCode.WAITING_DB_MAINTENANCE,
            "stopped for the site's database maintenance; it runs again when maintenance ends",
        ),
        (exit_code != 0 and oom, StatusCode.OUT_OF_MEMORY, f"Ran out of memory{memory}"),
        (
            exit_code != 0,
            StatusCode.NONZERO_EXIT,
            f"Job exited with an error (exit code {exit_code}"
            + (f", killed by {signal_name}" if signal_name else "")
            + ")",
        ),
    )
    return next(((code, message) for applies, code, message in cases if applies), None)


def _signal_name(exit_code: int | None) -> str:
    if exit_code is None or exit_code >= 0:
        return ""
    try:
        return signal.Signals(-exit_code).name
    except ValueError:
        return f"signal {-exit_code}"


def _finalize(spec, job_dir, before, timing) -> tuple[ActionResult, dict[str, Path]]:
    collected = collect_outputs(job_dir, spec.action, before)
    if collected.unmatched:
        return _result(spec, StatusCode.UNMATCHED_PATTERNS, unmatched_message(collected), **timing), {}
    outputs, staged = [], {}
    for relative, level in sorted(collected.outputs.items()):
        source = job_dir / relative
        withheld = None
        if level == LEVEL4_LEVEL and (problems := level4_problems(source, relative)):
            withheld = withheld_reason(relative, problems)
        staged[relative], size, sha = spec.workspace.stage(spec.job_id, relative, source)
        outputs.append(OutputFile(relative, level, size, sha, withheld))
    held = [output.path for output in outputs if output.withheld]
    message = "Completed successfully"
    if held:
        message += f"; {len(held)} moderately_sensitive file(s) withheld by Level 4 checks: " + ", ".join(held)
    if collected.rejected:
        message += "; refused " + ", ".join(f"{p} ({why})" for p, why in collected.rejected.items())
    return _result(spec, StatusCode.SUCCEEDED, message, outputs=tuple(outputs), **timing), staged


def _result(spec: ActionRun, code: StatusCode, message: str, **fields) -> ActionResult:
    fields.setdefault("finished_at", time.time())
    return ActionResult(spec.action.name, spec.job_id, code, message, **fields)


def _with_log(result: ActionResult, spec: ActionRun) -> ActionResult:
    return replace(result, log_path=str(spec.workspace.log_path(spec.action.name)))


def _trailer(spec: ActionRun, argv, result: ActionResult) -> str:
    lines = [
        "",
        "--- orchestrator ---",
        f"action: {spec.action.name}",
        f"job id: {spec.job_id}",
        f"command: {spec.action.image}:{spec.action.tag} {' '.join(spec.action.args)}",
        f"ran as: {' '.join(argv)}",
        f"exit code: {result.exit_code}",
        *(
            [f"resources: peak memory {result.peak_memory_bytes / 2**20:.1f} MiB, CPU {result.cpu_seconds:.2f} s"]
            if result.peak_memory_bytes is not None and result.cpu_seconds is not None
            else []
        ),
        f"status: {result.status_code.value}: {result.message}",
        "outputs:",
        *(
            f"  {output.path}  - {output.level}" + ("  (withheld)" if output.withheld else "")
            for output in result.outputs
        ),
    ]
    return "\n".join(lines) + "\n"
