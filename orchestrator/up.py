"""`orchestrator up` (what `make run` runs): the whole local stack on the embedded default.

The runtime API on SQLite, the catalog registered from triggers/, a local site with saved
credentials, and `dagster dev` (UI + daemon) on a SQLite Dagster instance -- all state under
.orchestrator/. Ctrl-C stops every process it started.
"""
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import click
import requests

from orchestrator.client_config import load_saved, save_credentials
from orchestrator.runtime.client import Credentials, RuntimeClient

LOCAL_ADMIN, LOCAL_SITE = "local-admin", "local"
REPO = Path(__file__).resolve().parents[1]


def ensure_local_admin(store, url: str) -> None:
    """A local admin whose login is saved for the CLI; survives restarts and a wiped database."""
    from orchestrator.runtime.errors import Conflict, Unauthenticated

    saved = load_saved()
    password = saved.get("password") if saved.get("username") == LOCAL_ADMIN else None
    try:
        if password is None:
            password = secrets.token_urlsafe(18)
            store.create_user(LOCAL_ADMIN, password, is_admin=True)
        else:
            store.token_for_user(LOCAL_ADMIN, password)
    except Unauthenticated:  # a saved login, but the database was wiped
        store.create_user(LOCAL_ADMIN, password, is_admin=True)
    except Conflict:
        raise click.ClickException(f"user {LOCAL_ADMIN!r} exists but its saved login is gone; "
                                   "remove .orchestrator/ to start afresh") from None
    save_credentials(url, LOCAL_ADMIN, password)


def ensure_local_site(store, home: Path) -> dict:
    """The local site's credentials, created once and kept in .orchestrator/site.json."""
    from orchestrator.catalog import all_capabilities
    from orchestrator.runtime.errors import Conflict, Unauthenticated
    from orchestrator.runtime.models import SiteCreate

    path = home / "site.json"
    if path.is_file():
        creds = json.loads(path.read_text())
        try:
            store.token_for_client(creds["client_id"], creds["client_secret"])
            return creds
        except Unauthenticated:
            pass  # the database was wiped: make the site again
    try:
        store.create_site(SiteCreate(id=LOCAL_SITE, capability_ids=all_capabilities()))
    except Conflict:
        pass  # the site survived a deleted site.json: give it a new client
    creds = store.generate_credentials(LOCAL_SITE).model_dump()
    path.touch(mode=0o600)
    path.write_text(json.dumps(creds))
    return creds


def wait_healthy(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise click.ClickException(f"the runtime API exited with status {process.returncode}; see its output above")
        try:
            if requests.get(f"{url}/healthz", timeout=1).ok:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    raise click.ClickException(f"the runtime API did not answer at {url}/healthz within {timeout:.0f} s")


def stop_all(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


@click.command("up")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int, help="runtime API port")
@click.option("--dagster-port", default=3000, show_default=True, type=int, help="Dagster UI port")
@click.option("--demo", is_flag=True, help="Submit an example object so a run shows up at once.")
def up_command(host: str, port: int, dagster_port: int, demo: bool):
    """Run the runtime API, the local site and the Dagster UI + daemon; Ctrl-C stops them all."""
    from orchestrator.catalog import register_catalog
    from orchestrator.runtime import migrate
    from orchestrator.runtime.settings import RuntimeSettings, _home
    from orchestrator.runtime.store import Store
    from orchestrator.workflows.triggers import TriggerFileError, load_triggers

    home, settings, url = _home(), RuntimeSettings(), f"http://{host}:{port}"
    try:
        trigger_set = load_triggers()  # a bad trigger file stops us here, naming the file
    except TriggerFileError as exc:
        raise click.ClickException(str(exc)) from None
    store = Store(settings)
    migrate.upgrade(store.writer)
    ensure_local_admin(store, url)
    site = ensure_local_site(store, home)
    store.dispose()

    dagster_home = home / "dagster"
    dagster_home.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "dagster.yaml", dagster_home / "dagster.yaml")
    env = {**os.environ, "ORCHESTRATOR_HOME": str(home), "ORCHESTRATOR_URL": url, "DAGSTER_HOME": str(dagster_home),
           "ORCHESTRATOR_CLIENT_ID": site["client_id"], "ORCHESTRATOR_CLIENT_SECRET": site["client_secret"],
           "ORCHESTRATOR_SITE_ID": LOCAL_SITE}
    bin_dir = Path(sys.executable).parent
    processes: list[subprocess.Popen] = []
    try:
        processes.append(subprocess.Popen([sys.executable, "-m", "orchestrator.cli", "runtime", "serve", "--host", host,
                                           "--port", str(port)], env=env, cwd=REPO, start_new_session=True))
        wait_healthy(url, processes[0])
        saved = load_saved()
        admin = RuntimeClient(url, Credentials(username=saved["username"], password=saved["password"]))
        register_catalog(admin, trigger_set)
        processes.append(subprocess.Popen([str(bin_dir / "dagster"), "dev", "-w", str(REPO / "workspace.yaml"), "-h", host,
                                           "-p", str(dagster_port)], env=env, cwd=REPO, start_new_session=True))
        click.secho(f"\nRuntime API:  {url}   (docs: {url}/docs)", bold=True)
        click.secho(f"Dagster UI:   http://{host}:{dagster_port}", bold=True)
        click.echo(f"State:        {home}")
        click.echo(f"Submit:       {bin_dir / 'orchestrator'} submit examples/study --type study")
        click.echo("Stop with Ctrl-C.\n")
        if demo:
            for path, kind in ((REPO / "examples" / "study", "study"), (REPO / "examples" / "metadata" / "study.json", "metadata-in")):
                obj = admin.submit_path(path, [kind])
                click.echo(f"Demo: submitted {path.relative_to(REPO)} as {kind} ({obj['id']}); watch its run in the Dagster UI.")
        while all(p.poll() is None for p in processes):
            time.sleep(0.5)
        raise click.ClickException("a process of the stack exited; stopping the others")
    except KeyboardInterrupt:
        click.echo("\nstopping ...")
    finally:
        stop_all(processes)
