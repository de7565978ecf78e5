"""Helpers shared by bench/e2e.py and bench/sensor_tick.py, on top of _common.py (the runtime server,
throwaway PostgreSQL databases, CPU accounting): a site copy with the README's echo workflow and a
`dagster-daemon run` for it. Every process is started in its own session and killed as a group."""

import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import yaml
from _common import (  # noqa: F401  (re-exported: the benchmarks import the shared helpers from here)
    CLK_TCK,
    REPO,
    RuntimeServer,
    SetupError,
    percentile,
    postgres_admin_url,
    postgres_database,
    process_tree,
    stat_fields,
)

sys.path.insert(0, str(REPO))  # tests/site/guide.py: the README guide, applied as the site tests apply it
from orchestrator.runtime.client import Credentials, RuntimeClient
from orchestrator.runtime.models import SiteCreate
from orchestrator.runtime.store import Store
from orchestrator.settings import Settings
from tests.site.guide import make_site_copy  # noqa: E402,F401  (re-exported for the benchmarks)

BIN = Path(sys.executable).parent


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def terminate_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C, so every `finally` / ExitStack cleanup still runs."""
    signal.signal(signal.SIGTERM, _interrupt)


# ------------------------------------------------------------------ databases
@contextmanager
def runtime_database(backend: str, workdir: Path, prefix: str):
    """A fresh, empty runtime database URL on `backend` ("sqlite" or "postgres")."""
    if backend == "sqlite":
        yield f"sqlite:///{workdir / f'{prefix}.db'}"
    else:
        with postgres_database(postgres_admin_url(), prefix) as url:
            yield url


# ------------------------------------------------------------------ processes
def kill_group(process: subprocess.Popen | None, grace: float = 15) -> None:
    """SIGTERM the process's session (it was started with start_new_session), SIGKILL what lingers."""
    if process is None:
        return
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(wait)
            if sig == signal.SIGTERM:  # the leader is gone; its children (run workers) may not be
                continue
            break
        except subprocess.TimeoutExpired:
            continue
    if process.poll() is None:
        process.wait(5)


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def bootstrap_runtime(database_url: str, home: Path, site_id: str, capabilities=()) -> tuple[dict, dict]:
    """An admin user and a site with client credentials, made directly on the (migrated) database;
    returns (admin {"username", "password"}, site {"client_id", "client_secret"})."""
    store = Store(Settings(database_url=database_url, blob_dir=home / "blobs"))
    try:
        admin = {"username": "bench-admin", "password": secrets.token_urlsafe(12)}
        store.create_user(admin["username"], admin["password"], is_admin=True)
        store.create_site(SiteCreate(id=site_id, capability_ids=list(capabilities)))
        creds = store.generate_credentials(site_id)
        return admin, {"client_id": creds.client_id, "client_secret": creds.client_secret}
    finally:
        store.dispose()


def admin_client(url: str, admin: dict) -> RuntimeClient:
    return RuntimeClient(url, Credentials(username=admin["username"], password=admin["password"]), max_retries=2)


# ------------------------------------------------------------------ a site (after tests/site/stack.py)
def max_concurrent_runs(dagster_yaml: Path = REPO / "dagster.yaml") -> int:
    config = yaml.safe_load(dagster_yaml.read_text())
    return int(config["run_coordinator"]["config"]["max_concurrent_runs"])


def fresh_dagster_home(path: Path) -> Path:
    """A new DAGSTER_HOME holding a copy of the repository's dagster.yaml (same settings for every site),
    its storage made here: a daemon and its code server making a new SQLite schedule database at the
    same moment can both stamp its alembic version, and every later start then fails on two heads."""
    from dagster import DagsterInstance

    path.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "dagster.yaml", path / "dagster.yaml")
    with DagsterInstance.from_config(str(path)):
        pass
    return path


class Daemon:
    """`dagster-daemon run -w WORKSPACE` in its own session; stop() kills the group, run workers included."""

    def __init__(self, workspace: Path, env: dict, log_path: Path):
        self.workspace, self.env, self.log_path = workspace, env, log_path
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> "Daemon":
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [str(BIN / "dagster-daemon"), "run", "-w", str(self.workspace)],
                cwd=self.workspace.parent,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        return self

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise SetupError(f"dagster-daemon exited with {self.process.returncode}:\n{tail(self.log_path)}")

    def stop(self) -> None:
        process, self.process = self.process, None
        kill_group(process, grace=20)

    def __exit__(self, *exc) -> None:
        self.stop()


def sensor_ticks(instance, name: str, limit: int | None = None) -> list:
    """The ticks of sensor `name` in this instance, newest first ([] before its first tick)."""
    from dagster._core.definitions.run_request import InstigatorType

    for state in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR):
        if state.instigator_name == name:
            return list(instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=limit))
    return []


def wait_for(predicate, timeout: float, what: str, every: float = 0.5, alive=lambda: None):
    deadline = time.monotonic() + timeout
    while True:
        alive()
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise SetupError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


# ------------------------------------------------------------------ CPU accounting and output
def cpu_split(pids) -> tuple[float, float]:
    """(own, reaped) CPU seconds of these live processes: their own utime + stime, and what their
    already-reaped children used (for a dagster-daemon tree: the daemon and code server vs run workers)."""
    own = reaped = 0
    for pid in pids:
        if fields := stat_fields(pid):
            own += int(fields[11]) + int(fields[12])
            reaped += int(fields[13]) + int(fields[14])
    return own / CLK_TCK, reaped / CLK_TCK


def machine_busy_seconds() -> float:
    """Busy CPU seconds of the whole machine since boot (all cores; idle and iowait excluded)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:8]]
    return (sum(values) - values[3] - values[4]) / CLK_TCK


def median(values) -> float:
    return statistics.median(values) if values else float("nan")


def table(headers: list[str], rows: list[list], title: str | None = None) -> str:
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row):
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))

    out = (
        ([title] if title else []) + [line(cells[0]), "  ".join("-" * w for w in widths)] + [line(r) for r in cells[1:]]
    )
    return "\n".join(out)
