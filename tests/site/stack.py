"""Real site processes for end-to-end tests: a copy of the repository (optionally with the README's
"add a workflow" guide applied, tests/site/guide.py) and a `dagster-daemon` running its sensors
against a live runtime."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from orchestrator.runtime.client import RuntimeClient
from tests.site.guide import make_site_copy  # noqa: F401  (the site tests take it from here)

BIN = Path(sys.executable).parent


def register_as_admin(repo: Path, env: dict, admin: RuntimeClient) -> None:
    """`orchestrator register` in the site copy, as the admin (what `make run` does at start)."""
    admin_env = {
        **env,
        "ORCHESTRATOR_USERNAME": "admin",
        "ORCHESTRATOR_PASSWORD": admin.credentials.password,
        "ORCHESTRATOR_CLIENT_ID": "",
        "ORCHESTRATOR_CLIENT_SECRET": "",
    }
    done = subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", "register"],
        cwd=repo,
        env=admin_env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr


def site_env(repo: Path, dagster_home: Path, runtime_url: str, site_id: str, creds: dict, **extra: str) -> dict:
    dagster_home.mkdir(parents=True, exist_ok=True)
    shutil.copy(repo / "dagster.yaml", dagster_home / "dagster.yaml")
    return {
        **os.environ,
        "PYTHONPATH": str(repo),
        "DAGSTER_HOME": str(dagster_home),
        "ORCHESTRATOR_URL": runtime_url,
        "ORCHESTRATOR_SITE_ID": site_id,
        "ORCHESTRATOR_CLIENT_ID": creds["client_id"],
        "ORCHESTRATOR_CLIENT_SECRET": creds["client_secret"],
        "ORCHESTRATOR_SENSOR_INTERVAL_SECONDS": "1",
        **extra,
    }


class SiteDaemon:
    """`dagster-daemon run` for one site, in its own process group (so a test can kill it whole)."""

    def __init__(self, repo: Path, env: dict, log_path: Path):
        self.repo, self.env, self.log_path = repo, env, log_path
        self.process: subprocess.Popen | None = None

    def start(self) -> "SiteDaemon":
        self.log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [str(BIN / "dagster-daemon"), "run", "-w", str(self.repo / "workspace.yaml")],
            cwd=self.repo,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def kill(self, sig: int = signal.SIGKILL, whole_group: bool = True) -> None:
        if self.process and self.process.poll() is None:
            (os.killpg if whole_group else os.kill)(self.process.pid, sig)
            self.process.wait(30)

    def stop(self) -> None:
        try:
            self.kill(signal.SIGTERM)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            self.kill(signal.SIGKILL)
        finally:
            if self.process:
                try:
                    os.killpg(self.process.pid, signal.SIGKILL)  # run workers left in the group
                except ProcessLookupError:
                    pass
            self.log.close()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]


def wait_for(predicate, timeout: float, what: str, every: float = 0.5, on_timeout=lambda: ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{on_timeout()}")


def job_status(client: RuntimeClient, job_id: str) -> str:
    return client.get(f"/jobs/{job_id}")["status"]
