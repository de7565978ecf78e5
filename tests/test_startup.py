"""Every process reads the working directory's `.env` (variables already set win) and logs at LOGLEVEL:
the CLI (its requests at DEBUG), the runtime's server (claims and reports with their job and operation
ids at INFO, none at WARNING; also in its worker processes), the airlock's server; a LOGLEVEL that is
no level is a one-line error."""

import os
import subprocess
import sys
import time
from pathlib import Path

import requests

from orchestrator.runtime.client import Credentials, RuntimeClient
from orchestrator.runtime.models import SiteCreate, Workflow
from orchestrator.runtime.store import Store
from orchestrator.settings import Settings
from tests.test_up import free_port
from tests.utils.waiting import wait_until

BIN = Path(sys.executable).parent
CLEAN = {k: v for k, v in os.environ.items() if not k.startswith("ORCHESTRATOR_") and k != "LOGLEVEL"}


def write_env(directory: Path, **values: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / ".env").write_text("".join(f"{key}={value}\n" for key, value in values.items()))
    return directory


def cli(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "orchestrator"), *args], cwd=cwd, env={**CLEAN, **env}, capture_output=True, text=True, timeout=120
    )


def test_the_cli_reads_dotenv_and_logs_its_requests_at_debug(admin, server, tmp_path):
    here = write_env(
        tmp_path / "work",
        ORCHESTRATOR_URL=server,
        ORCHESTRATOR_USERNAME="admin",
        ORCHESTRATOR_PASSWORD=admin.credentials.password,
        LOGLEVEL="debug",
    )
    listed = cli(here, "jobs", "list")
    assert listed.returncode == 0, listed.stderr
    assert "DEBUG orchestrator.runtime.client: POST /token -> 200" in listed.stderr
    assert "DEBUG orchestrator.runtime.client: GET /jobs -> 200" in listed.stderr
    quiet = cli(here, "jobs", "list", LOGLEVEL="WARNING")  # the environment wins over .env
    assert quiet.returncode == 0 and "DEBUG" not in quiet.stderr and quiet.stderr == ""
    wrong = cli(here, "jobs", "list", LOGLEVEL="LOUD")
    assert wrong.returncode == 2
    assert wrong.stderr.strip() == (
        "error: INVALID_SETTING: LOGLEVEL='LOUD' is not a level; use one of DEBUG, INFO, WARNING, ERROR."
    )


def serve(cwd: Path, port: int, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [str(BIN / "orchestrator"), "runtime", "serve", "--port", str(port), *args],
        cwd=cwd,
        env=CLEAN,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def claim_one(home: Path, url: str) -> tuple[str, str]:
    """A job made and claimed through the API of a server on `home`'s database; (job id, operation id)."""
    store = Store(Settings(home=home))
    store.create_user("admin", "pw", is_admin=True)
    store.put_workflow(Workflow(id="wf", name="W", dagster_job="j"))
    store.create_site(SiteCreate(id="site-a"))
    creds = store.generate_credentials("site-a")
    store.dispose()
    admin = RuntimeClient(url, Credentials(username="admin", password="pw"))
    job = admin.create_job("wf", [])
    site = RuntimeClient(url, Credentials(client_id=creds.client_id, client_secret=creds.client_secret))
    (op,) = site.claim_next("wf", 1)
    site.update_operation(op["id"], done=True, result={"ok": True})
    return job["id"], op["id"]


def up(url: str) -> bool:
    try:
        return requests.get(url + "/healthz", timeout=2).ok
    except requests.RequestException:
        return False


def run_server_and_claim(tmp_path: Path, name: str, loglevel: str, *args: str) -> tuple[str, str, str]:
    here = write_env(tmp_path / name, ORCHESTRATOR_HOME=str(tmp_path / name / "home"), LOGLEVEL=loglevel)
    port = free_port()
    process = serve(here, port, *args)
    try:
        wait_until(lambda: up(f"http://127.0.0.1:{port}"), 60, "the runtime to serve")
        job_id, op_id = claim_one(tmp_path / name / "home", f"http://127.0.0.1:{port}")
        time.sleep(0.5)  # the lines of the last requests
    finally:
        process.terminate()
        output = process.communicate(timeout=30)[0]
    return output, job_id, op_id


def test_the_runtime_logs_claims_with_their_ids_at_info_and_nothing_at_warning(tmp_path):
    output, job_id, op_id = run_server_and_claim(tmp_path, "info", "INFO", "--workers", "2")  # in its workers too
    assert f"INFO orchestrator.runtime.store.jobs: job {job_id} claimed by site site-a: operation {op_id}" in output
    assert f"job {job_id}: operation {op_id} reported done (result) by site site-a" in output
    assert "HTTP/1.1" not in output  # no access log unless asked: it cost 40% of a claim's server CPU
    with_access, _, _ = run_server_and_claim(tmp_path, "access", "INFO", "--access-log")
    assert '"POST /jobs%3AclaimNext HTTP/1.1" 200' in with_access  # uvicorn's access log at INFO
    quiet, job_id, _ = run_server_and_claim(tmp_path, "warning", "WARNING")
    assert job_id not in quiet and "HTTP/1.1" not in quiet


def test_the_airlock_takes_its_level_from_dotenv(tmp_path):
    here = write_env(
        tmp_path / "airlock",
        ORCHESTRATOR_HOME=str(tmp_path / "home"),
        ORCHESTRATOR_SITE_ID="site-a",
        ORCHESTRATOR_URL="http://127.0.0.1:9",  # not called to serve /healthz
        ORCHESTRATOR_CLIENT_ID="site-a-client",
        ORCHESTRATOR_CLIENT_SECRET="unused",
        LOGLEVEL="DEBUG",
    )
    port = free_port()
    process = subprocess.Popen(
        [str(BIN / "orchestrator"), "airlock", "serve", "--port", str(port)],
        cwd=here,
        env=CLEAN,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_until(lambda: _answers(f"http://127.0.0.1:{port}/healthz"), 60, "the airlock to serve")
    finally:
        process.terminate()
        output = process.communicate(timeout=30)[0]
    assert "DEBUG" in output  # uvicorn at debug: its own start-up lines
    assert "GET /healthz HTTP/1.1" in output


def _answers(url: str) -> bool:
    try:
        requests.get(url, timeout=2)
        return True
    except requests.RequestException:
        return False
