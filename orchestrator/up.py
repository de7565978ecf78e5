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
import socket
import subprocess
import sys
import time
from pathlib import Path

import click
import requests

from orchestrator.client_config import load_saved, save_airlock_url, save_credentials
from orchestrator.pipeline.processes import pid_alive
from orchestrator.runtime.client import Credentials, RuntimeClient
from orchestrator.settings import Settings

LOCAL_ADMIN, LOCAL_SITE = "local-admin", "local"
REPO = Path(__file__).resolve().parents[1]
PID_FILE = "up.json"
# Dagster's notices about its own CLI (`dagster dev` is superseded by `dg dev`) and beta parameters it passes
# itself: nothing a user of this stack can act on, printed at every start.
QUIET_WARNINGS = "ignore:Function `dev_command` is superseded,ignore:Parameter `owners`"


def ensure_local_admin(store, home: Path, url: str) -> None:
    """A local admin whose login is saved for the CLI; survives restarts and a wiped database."""
    from orchestrator.runtime.errors import Conflict, Unauthenticated

    saved = load_saved(home)
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
        raise click.ClickException(
            f"user {LOCAL_ADMIN!r} exists but its saved login is gone; remove .orchestrator/ to start afresh"
        ) from None
    save_credentials(home, url, LOCAL_ADMIN, password)


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


def answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).ok
    except requests.RequestException:
        return False


def wait_until_answering(urls: dict[str, str], processes: list[subprocess.Popen], timeout: float = 120) -> None:
    """Wait until every URL answers 2xx ({what: url}); a process of ours that exits first is an error."""
    deadline, waiting = time.monotonic() + timeout, dict(urls)
    while waiting and time.monotonic() < deadline:
        if any(p.poll() is not None for p in processes):
            raise click.ClickException("a process of the stack exited while starting; see its output above")
        waiting = {what: url for what, url in waiting.items() if not answers(url)}
        time.sleep(0.3 if waiting else 0)
    if waiting:
        raise click.ClickException(
            "no answer within {:.0f} s from {}".format(
                timeout, ", ".join(f"the {what} at {url}" for what, url in waiting.items())
            )
        )


def port_in_use(host: str, port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex((host, port)) == 0


def refuse_if_running(home: Path, host: str, ports: dict[str, int]) -> None:
    """A second `up` says where the first one is and how to stop it, instead of failing on a busy port."""
    running = _read_pid_file(home)
    # The pid alone could be a stale file's, reused by another process: the API must answer too.
    if running and pid_alive(running["pid"]) and answers(f"{running['api']}/healthz"):
        raise click.ClickException(
            f"already running at {running['api']} (Dagster UI {running['dagster']}); "
            f"stop it with Ctrl-C in its terminal or `kill -INT {running['pid']}`"
        )
    busy = [f"{what} port {port}" for what, port in ports.items() if port_in_use(host, port)]
    if busy:
        hint = "`orchestrator up` from another ORCHESTRATOR_HOME, or another program"
        raise click.ClickException(
            f"{' and '.join(busy)} on {host} already in use ({hint}); "
            "stop it, or choose others with --port / --dagster-port"
        )


def _read_pid_file(home: Path) -> dict | None:
    try:
        return json.loads((home / PID_FILE).read_text())
    except (OSError, ValueError):
        return None


def stop_all(processes: list[subprocess.Popen]) -> None:
    # Dagster first, the runtime last: a sensor tick that found the runtime already gone would fail (red in the UI).
    for process in reversed(processes):
        stop(process)


def stop(process: subprocess.Popen, timeout: float = 30) -> None:
    """SIGTERM to the process alone, then to what is left of its group. `dagster dev` stops its daemon before
    its code server; a signal to the whole group would stop both at once and cut a sensor tick off mid-way
    (an error with a traceback, a failed tick). What outlives the leader (a run's worker) gets SIGTERM too."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
        leftovers = signal.SIGTERM
    except subprocess.TimeoutExpired:
        leftovers = signal.SIGKILL
    try:
        os.killpg(process.pid, leftovers)
    except ProcessLookupError:
        pass  # the whole group is gone
    process.wait()


def _interrupt(*_) -> None:
    raise KeyboardInterrupt  # SIGTERM stops the stack as Ctrl-C does


def prepare_state(settings: Settings, url: str):
    """The triggers (a bad file stops us here, naming it), a migrated database, the local admin and site."""
    from orchestrator.runtime import migrate
    from orchestrator.runtime.store import Store
    from orchestrator.workflows.triggers import TriggerFileError, load_triggers

    try:
        trigger_set = load_triggers(settings.triggers_dir)
    except TriggerFileError as exc:
        raise click.ClickException(str(exc)) from None
    from orchestrator.jobsite.demo import ensure_demo
    from orchestrator.jobsite.store import JobsiteStore

    store = Store(settings)
    migrate.upgrade(store.writer)
    ensure_local_admin(store, settings.home, url)
    site = ensure_local_site(store, settings.home)
    ensure_demo(JobsiteStore.open(store), REPO / "examples" / "study", settings.home, LOCAL_ADMIN, LOCAL_SITE)
    store.dispose()
    return trigger_set, site


def stack_env(settings: Settings, url: str, site: dict) -> tuple[dict, Path]:
    """The environment of the stack's processes, and the Dagster instance's home.

    The settings this process read (a `.env` file included) are passed on as variables, since the
    children run in other folders. The repository's dagster.yaml is a template: the instance reads its
    copy in DAGSTER_HOME. Dagster runs from there, so `dagster dev` does not warn that a dagster.yaml in
    the current folder "will not be used"."""
    home = settings.home
    dagster_home = home / "dagster"
    dagster_home.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "dagster.yaml", dagster_home / "dagster.yaml")
    passed_on = {
        f"ORCHESTRATOR_{name.upper()}": json.dumps(value) if isinstance(value, dict) else str(value)
        for name, value in settings
        if value not in (None, "", {})
    }
    env = {
        **os.environ,
        **passed_on,
        "ORCHESTRATOR_HOME": str(home),
        "ORCHESTRATOR_URL": url,
        "DAGSTER_HOME": str(dagster_home),
        "ORCHESTRATOR_CLIENT_ID": site["client_id"],
        "ORCHESTRATOR_CLIENT_SECRET": site["client_secret"],
        "ORCHESTRATOR_SITE_ID": LOCAL_SITE,
        "PYTHONWARNINGS": QUIET_WARNINGS,
    }
    return env, dagster_home


def banner(url: str, dagster_url: str, airlock_url: str, home: Path) -> None:
    bin_dir = Path(sys.executable).parent
    click.secho(f"\n  orchestrator is up ({home})", bold=True)
    click.secho(
        f"  Jobs site:    {url}/workspaces/demo-study   (log in as local-admin, password in {home / 'credentials.json'})",
        bold=True,
    )
    click.secho(f"  Dagster UI:   {dagster_url}   (APIs: {url}/docs)", bold=True)
    click.secho(f"  Airlock:      {airlock_url}   (Level 4 files; log in with `orchestrator tokens create`)", bold=True)
    click.echo(f"  Job request:  {bin_dir / 'orchestrator'} requests submit demo-study run_all --wait")
    click.echo(f"  Submit:       {bin_dir / 'orchestrator'} submit examples/study --type study --wait")
    click.echo("  Stop:         Ctrl-C\n")


@click.command("up")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int, help="runtime API port")
@click.option("--dagster-port", default=3000, show_default=True, type=int, help="Dagster UI port")
@click.option("--airlock-port", default=8010, show_default=True, type=int, help="the local site's airlock port")
@click.option("--demo", is_flag=True, help="Submit an example object so a run shows up at once.")
@click.option("--verbose", is_flag=True, help="Log every request and every sensor tick (Dagster's INFO level).")
def up_command(host: str, port: int, dagster_port: int, airlock_port: int, demo: bool, verbose: bool):
    """Run the runtime API, the local site (Dagster UI + daemon, and its airlock); Ctrl-C stops them all."""
    from orchestrator.catalog import register_catalog

    settings = Settings()
    home, url, dagster_url = settings.home, f"http://{host}:{port}", f"http://{host}:{dagster_port}"
    airlock_url = f"http://{host}:{airlock_port}"
    refuse_if_running(home, host, {"runtime API": port, "Dagster UI": dagster_port, "airlock": airlock_port})
    trigger_set, site = prepare_state(settings, url)
    env, dagster_home = stack_env(settings, url, site)
    log_level = "info" if verbose else "warning"  # idle sensor ticks and API requests log at INFO: a line a second
    bin_dir = Path(sys.executable).parent
    processes: list[subprocess.Popen] = []
    pid_file = home / PID_FILE
    # Ctrl-C reaches only this process (the others have their own process groups): we stop them in order. Also
    # when started with SIGINT ignored (a script's background job): the children would inherit the ignore, and
    # Dagster maps SIGTERM to its SIGINT handler, so `dagster dev` would be deaf to our SIGTERM as well.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        processes.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "orchestrator.cli",
                    "runtime",
                    "serve",
                    "--host",
                    host,
                    "--port",
                    str(port),
                    "--log-level",
                    log_level,
                ],
                env=env,
                cwd=REPO,
                start_new_session=True,
            )
        )
        pid_file.write_text(json.dumps({"pid": os.getpid(), "api": url, "dagster": dagster_url}))
        wait_until_answering({"runtime API": f"{url}/healthz"}, processes)
        saved = load_saved(home)
        admin = RuntimeClient(url, Credentials(username=saved["username"], password=saved["password"]))
        register_catalog(admin, trigger_set)
        processes.append(
            subprocess.Popen(
                [
                    str(bin_dir / "dagster"),
                    "dev",
                    "-w",
                    str(REPO / "workspace.yaml"),
                    "-h",
                    host,
                    "-p",
                    str(dagster_port),
                    "--log-level",
                    log_level,
                ],
                env=env,
                cwd=dagster_home,
                start_new_session=True,
            )
        )
        processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "orchestrator.cli", "airlock", "serve", "--host", host]
                + ["--port", str(airlock_port), "--log-level", log_level],
                env={**env, "ORCHESTRATOR_AIRLOCK_URL": airlock_url},
                cwd=REPO,
                start_new_session=True,
            )
        )
        save_airlock_url(home, airlock_url)
        answering = {"runtime API": f"{url}/healthz", "Dagster UI": f"{dagster_url}/server_info"}
        wait_until_answering({**answering, "airlock": f"{airlock_url}/healthz"}, processes)
        banner(url, dagster_url, airlock_url, home)
        if demo:
            for path, kind in (
                (REPO / "examples" / "study", "study"),
                (REPO / "examples" / "metadata" / "study.json", "metadata-in"),
            ):
                obj = admin.submit_path(path, [kind])
                click.echo(
                    f"Demo: submitted {path.relative_to(REPO)} as {kind} ({obj['id']}); watch its run in the Dagster UI."
                )
        while all(p.poll() is None for p in processes):
            time.sleep(0.5)
        raise click.ClickException("a process of the stack exited; stopping the others")
    except KeyboardInterrupt:
        click.echo("\nstopping ...")
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):  # a second Ctrl-C must not cut the orderly stop short
            signal.signal(sig, signal.SIG_IGN)
        stop_all(processes)
        if (_read_pid_file(home) or {}).get("pid") == os.getpid():
            pid_file.unlink()
