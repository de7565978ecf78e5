"""`orchestrator site ...`: a site operator's commands, run on the site's machine with its settings
(ORCHESTRATOR_HOME, or the jobs and workspaces dirs, from the environment or `.env`). Each is safe to
run at any moment and to run again."""

import os
import sys
from pathlib import Path

import click

from orchestrator import render
from orchestrator.client_config import client_from_env, load_saved
from orchestrator.operate import disk, reboot
from orchestrator.operate.runs import ActionRunRef, Site
from orchestrator.runtime.client import RuntimeClientError
from orchestrator.settings import Settings
from orchestrator.up import LOCAL_SITE


def site_here() -> Site:
    settings = Settings()
    return Site(settings.jobs_dir, settings.workspaces_dir)


def pick(site: Site, fragment: str, action: str | None = None) -> ActionRunRef:
    """The one run `fragment` names; with several, a pick list at a terminal, else the list and exit 2."""
    matches = site.match(fragment, action)
    if not matches:
        where = f" of action {action!r}" if action else ""
        raise click.ClickException(
            f"No action run{where} at this site matches {fragment!r}; `orchestrator site jobs` lists them."
        )
    if len(matches) == 1:
        return matches[0]
    listing = "\n".join(f"  {number}. {ref.describe()}" for number, ref in enumerate(matches, 1))
    if not sys.stdin.isatty():
        raise click.UsageError(
            f"{fragment!r} matches {len(matches)} action runs:\n{listing}\nName one by more of its id."
        )
    click.echo(f"{fragment!r} matches {len(matches)} action runs:\n{listing}")
    return matches[click.prompt("Which one", type=click.IntRange(1, len(matches))) - 1]


@click.group("site")
def site_group():
    """Operate this site: its mode (pause, maintenance, reboot), its action runs (kill, retry, logs), its disk."""


def _site_id(site: str | None) -> str:
    """--site, else ORCHESTRATOR_SITE_ID, else the site `make run` (`orchestrator up`) made here."""
    settings = Settings()
    site_id = site or settings.site_id or (LOCAL_SITE if load_saved(settings.home) else "")
    if not site_id:
        raise click.UsageError("Which site? Set ORCHESTRATOR_SITE_ID (in the environment or .env) or pass --site.")
    return site_id


site_option = click.option("--site", help="The site's id (default: ORCHESTRATOR_SITE_ID).")


@site_group.command("status")
@site_option
def status_command(site: str | None):
    """The site as the runtime sees it: up, paused, in database maintenance, its running and queued runs."""
    status = client_from_env().site_status(_site_id(site))
    render.fields(
        [
            ("site", status.site_id),
            ("up", "yes" if status.up else "NO (not seen for a while: is its dagster-daemon running?)"),
            ("paused", "yes: nothing new is claimed" if status.paused else "no"),
            ("database maintenance", "yes: database actions wait" if status.maintenance else "no"),
            ("running / queued runs", f"{status.running} / {status.queued}"),
            ("last seen", render.iso(status.last_seen_at) if status.last_seen_at else "never"),
        ]
    )


@site_group.command("pause")
@site_option
def pause_command(site: str | None):
    """Claim nothing new; the jobs running now finish."""
    client_from_env().pause_site(site_id := _site_id(site))
    click.echo(f"site {site_id} paused: it claims nothing new; running jobs finish (`orchestrator site resume`)")


@site_group.command("resume")
@site_option
def resume_command(site: str | None):
    """Claim jobs again (after pause or prepare-for-reboot)."""
    client_from_env().resume_site(site_id := _site_id(site))
    click.echo(f"site {site_id} resumed: it claims jobs again")


@site_group.command("maintenance")
@click.argument("state", type=click.Choice(["on", "off"]))
@site_option
def maintenance_command(state: str, site: str | None):
    """Database maintenance: ON stops running database actions and holds new ones (WAITING_DB_MAINTENANCE);
    other actions go on. OFF lets them run again."""
    client, site_id = client_from_env(), _site_id(site)
    if state == "on":
        client.start_maintenance(site_id)
        click.echo(f"site {site_id}: database maintenance on; database actions stop within seconds and wait")
    else:
        client.end_maintenance(site_id)
        click.echo(f"site {site_id}: database maintenance off; waiting database actions run again")


@site_group.command("prepare-for-reboot")
@site_option
@click.option("--wait", "wait_seconds", default=60, show_default=True, help="Seconds to wait for runs to stop.")
def prepare_for_reboot_command(site: str | None, wait_seconds: int):
    """Pause, hand every job this site holds back to the queue and stop its runs: after the restart,
    `orchestrator site resume` and each job runs again, once."""
    instance = _dagster_instance()
    if instance is None:
        raise click.UsageError(
            "prepare-for-reboot needs the site's Dagster instance: set DAGSTER_HOME as the site does."
        )
    for note in reboot.prepare_for_reboot(client_from_env(), instance, _site_id(site), wait_seconds):
        click.echo(note)


@site_group.command("jobs")
def jobs_command():
    """The action runs this site can name: running, kept, and each workspace's last run of each action."""
    rows = [(r.job_id, r.workspace, r.action, r.status, r.runtime_job_id) for r in site_here().runs()]
    render.table(("JOB", "WORKSPACE", "ACTION", "STATUS", "RUNTIME JOB"), rows)


@site_group.command("kill")
@click.argument("jobs", nargs=-1, required=True)
@click.option("--cleanup", is_flag=True, help="Also remove their job directories (kept for debugging otherwise).")
def kill_command(jobs: tuple[str, ...], cleanup: bool):
    """Kill running actions by job id or a sub-string of it (or of their runtime job's id): each ends
    KILLED_BY_ADMIN; the request's other actions go on or wait, as their dependencies say."""
    site, failed = site_here(), False
    for ref in [pick(site, fragment) for fragment in jobs]:  # every name resolved before anything is killed
        try:
            click.echo(site.kill(ref))
        except TimeoutError as exc:
            click.echo(f"error: {exc}", err=True)
            failed = True
            continue
        if cleanup:
            click.echo(site.clean_up(ref))
    if failed:
        sys.exit(1)


@site_group.command("retry")
@click.argument("job")
def retry_command(job: str):
    """Run again an action that failed with INTERNAL_ERROR, in the job directory it left (not from
    scratch): its runtime job opens again, this site claims it, and that action resumes there."""
    site = site_here()
    ref = pick(site, job)
    if problem := site.mark_for_retry(ref):
        raise click.ClickException(f"Not retried: {problem}.")
    runtime_job = ref.runtime_job_id
    if not runtime_job:
        site.unmark_retry(ref)
        raise click.ClickException(
            f"Not retried: {ref.job_id} ran without a runtime job (`orchestrator run`); run it again there."
        )
    try:
        client_from_env().retry_job(runtime_job)
    except RuntimeClientError as exc:
        site.unmark_retry(ref)
        if exc.code == "JOB_NOT_RETRYABLE":
            raise click.ClickException(f"Not retried: {exc.message} Run retry again once it has ended.") from None
        raise
    click.echo(
        f"retrying {ref.job_id} ({ref.action} in {ref.workspace}): runtime job {runtime_job} is open again; "
        "this site resumes the action in its job directory when it claims it"
    )


@site_group.command("logs")
@click.argument("job")
@click.argument("action", required=False)
@click.option("-f", "--follow", is_flag=True, help="Keep printing what the action writes until it ends.")
def logs_command(job: str, action: str | None, follow: bool):
    """An action's log: JOB is (a sub-string of) its job id or its runtime job's; ACTION narrows it down."""
    site = site_here()
    ref = pick(site, job, action)
    path, why = site.log_of(ref)
    if path is None and not follow:
        raise click.ClickException(why)
    out = sys.stdout.buffer
    write = lambda chunk: (out.write(chunk), out.flush())  # noqa: E731  (a line of output as it comes)
    try:
        if follow:
            site.follow(ref, write)
        else:
            write(path.read_bytes())
    except KeyboardInterrupt:
        pass


@site_group.command("disk")
@click.option("--cleanup", is_flag=True, help="Remove what no run uses any more (never a running job's).")
@click.option("--dry-run", is_flag=True, help="With --cleanup: list what would go, remove nothing.")
def disk_command(cleanup: bool, dry_run: bool):
    """Disk used by workspaces, job directories, runs' scratch, Dagster's storage and blobs."""
    settings, site, dagster_home = Settings(), site_here(), _dagster_home()
    render.table(
        ("WHAT", "SIZE", "PATH"),
        [(u.what, _size(u.bytes), str(u.path)) for u in disk.usage(site, dagster_home, settings.blob_dir)],
    )
    kept = [r for r in site.job_dirs.records() if r.kept]
    if kept:
        click.echo(
            f"\n{len(kept)} job director{'y' if len(kept) == 1 else 'ies'} kept for debugging or retry "
            "(`orchestrator site kill --cleanup JOB` removes one):"
        )
        for record in kept:
            click.echo(f"  {record.job_id}  {record.action} in {record.workspace}: {record.status_code}")
    if not cleanup:
        return
    items = disk.removable(site, _run_in_progress())
    verb = "would remove" if dry_run else "removing"
    for item in items:
        click.echo(f"{verb} {item.path} ({_size(item.bytes)}): {item.why}")
    if not items:
        click.echo("\nNothing to clean up.")
    elif dry_run:
        click.echo(f"\n{len(items)} item(s), {_size(sum(i.bytes for i in items))}; nothing removed (--dry-run).")
    else:
        click.echo(f"\nFreed {_size(disk.remove(items, site))}.")


def _dagster_home() -> Path | None:
    """DAGSTER_HOME, else the one `make run` uses (<home>/dagster); None when there is no instance here."""
    home = Path(os.environ.get("DAGSTER_HOME") or Settings().home / "dagster")
    return home if (home / "dagster.yaml").is_file() else None


def _dagster_instance():
    """This site's Dagster instance, or None when there is none here."""
    home = _dagster_home()
    if home is None:
        return None
    import dagster as dg

    return dg.DagsterInstance.from_config(str(home))


def _run_in_progress():
    """A predicate on Dagster run ids from this site's instance, or None when there is none to ask."""
    instance = _dagster_instance()
    if instance is None:
        return None
    from orchestrator.sensors.claims import IN_PROGRESS

    def in_progress(run_id: str) -> bool | None:
        run = instance.get_run_by_id(run_id)
        return None if run is None else run.status in IN_PROGRESS  # None: another instance's run

    return in_progress


def _size(count: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} TiB"
