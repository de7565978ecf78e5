"""Helpers the benchmarks share: a fresh PostgreSQL database, a real `orchestrator runtime serve`
subprocess, CPU accounting from /proc and percentiles. Everything here cleans up after itself."""

import math
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import requests
from sqlalchemy import text
from sqlalchemy.engine import make_url

from orchestrator.runtime.db import make_admin_engine

REPO = Path(__file__).resolve().parents[1]
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
START_POSTGRES = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
CLK_TCK = os.sysconf("SC_CLK_TCK")


class SetupError(RuntimeError):
    """The benchmark could not set up what it measures (no figure can be trusted)."""


def postgres_admin_url() -> str:
    return (
        os.environ.get("ORCHESTRATOR_BENCH_POSTGRES_URL")
        or os.environ.get("ORCHESTRATOR_TEST_POSTGRES_URL")
        or DEFAULT_POSTGRES_URL
    )


def with_database(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


@contextmanager
def postgres_database(admin_url: str, prefix: str):
    """CREATE DATABASE <prefix>_<random>; yield its URL; DROP it (WITH FORCE) whatever happens."""
    admin = make_admin_engine(admin_url)
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        admin.dispose()
        raise SetupError(
            f"PostgreSQL is not reachable at {make_url(admin_url).render_as_string()} ({type(exc).__name__}). "
            f"Start the local one with:\n    {START_POSTGRES}"
        ) from exc
    name = f"{prefix}_{secrets.token_hex(4)}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield with_database(admin_url, name)
    finally:
        with interrupts_deferred(), admin.connect() as conn:  # a second Ctrl-C must not leave the database behind
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def interrupts_deferred(signals=(signal.SIGINT, signal.SIGTERM)):
    """Hold these signals back (they stay pending) until the block is done.

    Processes started inside inherit the blocked mask through exec: started under SIGINT alone, spawned
    helpers never see the terminal's Ctrl-C (sent to the whole process group), so the parent handles
    it and stops them (with SIGTERM, which they still receive)."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, set(signals))
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def orchestrator_command() -> str:
    beside = Path(sys.executable).parent / "orchestrator"
    found = str(beside) if beside.exists() else shutil.which("orchestrator")
    if not found:
        raise SetupError("No `orchestrator` command next to this Python or on PATH; run `make setup` first.")
    return found


class RuntimeServer:
    """`orchestrator runtime serve` as a subprocess in its own session (so Ctrl-C reaches only us and
    we stop it), logging to a file; entered once every uvicorn worker has finished starting."""

    def __init__(
        self,
        database_url: str,
        home: Path,
        log_path: Path | None = None,
        workers: int = 1,
        startup_timeout: float = 90.0,
    ):
        self.database_url, self.home, self.workers = database_url, Path(home), workers
        self.startup_timeout = startup_timeout
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(log_path) if log_path else self.home / f"server-{self.port}.log"
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> "RuntimeServer":
        self.home.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "ORCHESTRATOR_DATABASE_URL": self.database_url,
            "ORCHESTRATOR_HOME": str(self.home),
            "ORCHESTRATOR_BLOB_DIR": str(self.home / "blobs"),
            "PYTHONUNBUFFERED": "1",
        }
        cmd = [
            orchestrator_command(),
            "runtime",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
        ]
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                cmd,
                env=env,
                cwd=self.home,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SetupError(
                    f"the runtime server exited with {self.process.returncode} while starting:\n{self.log_tail()}"
                )
            started = self.log_path.read_text(errors="replace").count("Application startup complete")
            if started >= self.workers:
                try:
                    if requests.get(self.url + "/healthz", timeout=2).status_code == 200:
                        return
                except requests.RequestException:
                    pass
            time.sleep(0.1)
        raise SetupError(
            f"the runtime server did not answer /healthz within {self.startup_timeout:.0f}s:\n{self.log_tail()}"
        )

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"

    def pids(self) -> list[int]:
        """The server process and its descendants (uvicorn's worker processes)."""
        return process_tree(self.process.pid) if self.process and self.process.poll() is None else []

    def cpu_seconds(self) -> float:
        """CPU the server has used so far, its reaped children included."""
        return cpu_seconds(self.pids(), with_reaped=True)

    def stop(self) -> None:
        """SIGTERM the server's process group (uvicorn shuts its workers down), SIGKILL if it lingers."""
        with interrupts_deferred():
            self._stop()

    def _stop(self) -> None:
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
            try:
                os.killpg(proc.pid, sig)  # its own session: the group is the server and its workers only
            except ProcessLookupError:
                return
            try:
                proc.wait(wait)
                return
            except subprocess.TimeoutExpired:
                continue

    def __exit__(self, *exc) -> None:
        self.stop()


# ---- CPU accounting from /proc (Linux)
def stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()  # fields after "pid (comm) "; comm may contain spaces


def process_tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := stat_fields(int(entry.name))):
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def cpu_seconds(pids, with_reaped: bool = False) -> float:
    """User + system CPU seconds of these processes (dead ones count 0); `with_reaped` adds what their
    already-reaped children used (cutime, cstime)."""
    last = 15 if with_reaped else 13
    total = 0
    for pid in pids:
        if fields := stat_fields(pid):
            total += sum(int(v) for v in fields[11:last])  # utime, stime[, cutime, cstime]
    return total / CLK_TCK


def cpu_by_pid(pids) -> dict[int, float]:
    return {pid: cpu_seconds([pid]) for pid in pids}


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, all cores."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:8]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values) - idle) / CLK_TCK, sum(values) / CLK_TCK


def percentile(sorted_values, q: float) -> float:
    """Nearest-rank percentile of an already sorted sequence; nan when empty."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), math.ceil(q / 100 * len(sorted_values))))
    return sorted_values[rank - 1]
