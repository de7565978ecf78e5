"""`orchestrator projects|workspaces|requests|tokens ...`: the jobs site from the command line (same server
and credentials as the other client commands); `--json` prints the models for scripts."""

import sys
import time

import click

from orchestrator import render
from orchestrator.client_config import client_from_env
from orchestrator.jobsite.client import JobsiteClient
from orchestrator.jobsite.models import JobRequest

FINAL = ("succeeded", "failed", "cancelled", "nothing_to_do")


def _client() -> JobsiteClient:
    return JobsiteClient(client_from_env())


# ---- projects
@click.group("projects")
def projects_group():
    """List, show and create projects."""


@projects_group.command("list")
@render.json_option
def projects_list(as_json):
    projects = _client().projects()
    if as_json:
        return render.echo_json(projects)
    render.table(("SLUG", "STATUS", "ORG", "NAME"), [(p.slug, p.status.value, p.org, p.name) for p in projects])


@projects_group.command("show")
@click.argument("slug")
@render.json_option
def projects_show(slug, as_json):
    client = _client()
    project = client.project(slug)
    if as_json:
        return render.echo_json(project)
    click.echo(f"{project.slug}: {project.name} ({project.org})\nstatus: {project.status.value}")
    if project.status_description:
        click.echo(project.status_description)
    workspaces = client.workspaces(slug)
    if workspaces:
        click.echo("")
        _workspace_rows(workspaces)


@projects_group.command("create")
@click.argument("slug")
@click.option("--name", required=True)
@click.option("--org", required=True, help="The organisation the project belongs to.")
@render.json_option
def projects_create(slug, name, org, as_json):
    """Create a project (admins)."""
    project = _client().create_project(slug=slug, name=name, org=org)
    render.echo_json(project) if as_json else click.echo(f"project {project.slug} created")


# ---- workspaces
@click.group("workspaces")
def workspaces_group():
    """List, show, create and archive workspaces."""


def _workspace_rows(workspaces) -> None:
    render.table(
        ("NAME", "SITE", "DATABASE", "BRANCH", "REPOSITORY"),
        [
            (w.name + (" (archived)" if w.archived else ""), w.site_id, w.database.value, w.branch, w.repo)
            for w in workspaces
        ],
    )


@workspaces_group.command("list")
@click.argument("project")
@render.json_option
def workspaces_list(project, as_json):
    workspaces = _client().workspaces(project)
    render.echo_json(workspaces) if as_json else _workspace_rows(workspaces)


@workspaces_group.command("create")
@click.argument("project")
@click.argument("name")
@click.option("--repo", required=True, help="A git URL or path.")
@click.option("--branch", default="main", show_default=True)
@click.option("--site", "site_id", required=True, help="The site (backend) where its jobs run.")
@click.option("--database", type=click.Choice(["full", "sample"]), default="full", show_default=True)
@click.option("--purpose", default="")
@click.option("--notify/--no-notify", default=False, help="Email by default when its jobs finish.")
@render.json_option
def workspaces_create(project, name, repo, branch, site_id, database, purpose, notify, as_json):
    """Create a workspace in PROJECT (ProjectDeveloper)."""
    workspace = _client().create_workspace(
        project,
        name=name,
        repo=repo,
        branch=branch,
        site_id=site_id,
        database=database,
        purpose=purpose,
        notifications_default=notify,
    )
    render.echo_json(workspace) if as_json else click.echo(
        f"workspace {workspace.name} created at site {workspace.site_id}"
    )


@workspaces_group.command("archive")
@click.argument("name")
@click.option("--undo", is_flag=True, help="Unarchive it.")
def workspaces_archive(name, undo):
    workspace = _client().update_workspace(name, archived=not undo)
    click.echo(f"workspace {workspace.name} {'archived' if workspace.archived else 'unarchived'}")


# ---- job requests
@click.group("requests")
def requests_group():
    """Submit job requests, follow them job by job, cancel them."""


def show_request(request: JobRequest) -> None:
    click.echo(
        f"job request {request.id}  {request.status}: {request.status_message}\n"
        f"workspace {request.workspace} (project {request.project}) at site {request.site_id}, "
        f"database {request.database.value}, commit {request.commit[:12]}\n"
        f"requested: {', '.join(request.requested_actions)}"
        + ("  (force-run dependencies)" if request.force_run_dependencies else "")
        + (f"\ncancelled: {', '.join(request.cancelled_actions)}" if request.cancelled_actions else "")
    )
    if request.jobs:
        click.echo("")
        render.table(
            ("ACTION", "STATE", "CODE", "STARTED", "FINISHED", "LOG", "MESSAGE"),
            [
                (
                    j.action,
                    j.state,
                    j.status_code,
                    render.iso(j.started_at),
                    render.iso(j.finished_at),
                    "yes" if j.log_exists else "-",
                    j.status_message,
                )
                for j in request.jobs
            ],
        )


@requests_group.command("submit")
@click.argument("workspace")
@click.argument("actions", nargs=-1, required=True)
@click.option("-f", "--force-run-dependencies", is_flag=True, help="Run dependencies even if their outputs exist.")
@click.option("--notify/--no-notify", default=None, help="Email me as each job finishes (default: the workspace's).")
@click.option("--wait", is_flag=True, help="Follow it to its end; exit 1 unless it succeeds (or has nothing to do).")
@click.option("--timeout", type=click.FloatRange(min=1), help="With --wait: give up after this many seconds.")
@render.json_option
def requests_submit(workspace, actions, force_run_dependencies, notify, wait, timeout, as_json):
    """Run ACTIONS (or run_all) of WORKSPACE's branch as it is now: the commit is pinned at submit."""
    client = _client()
    request = client.submit(workspace, list(actions), force_run_dependencies, notify)
    if not as_json:
        click.echo(f"job request {request.id}: commit {request.commit[:12]} of {workspace}, {request.status}")
    if wait:
        request = _follow(client, request, timeout, quiet=as_json)
    if as_json:
        render.echo_json(request)
    if wait and request.status not in ("succeeded", "nothing_to_do"):
        sys.exit(1)


def _follow(client: JobsiteClient, request: JobRequest, timeout: float | None, quiet: bool) -> JobRequest:
    deadline = None if timeout is None else time.monotonic() + timeout
    shown: dict[str, str] = {}
    while True:
        for job in request.jobs or []:
            line = f"{job.state} {job.status_code}"
            if shown.get(job.action) != line and not quiet:
                click.echo(f"  {job.action}: {job.state} ({job.status_code}) {job.status_message}")
            shown[job.action] = line
        if request.status in FINAL:
            if not quiet:
                click.echo(f"job request {request.id}: {request.status}: {request.status_message}")
            return request
        if deadline is not None and time.monotonic() > deadline:
            click.echo(f"gave up waiting after {timeout:g}s; job request {request.id} is {request.status}", err=True)
            sys.exit(2)
        time.sleep(1)
        request = client.request(request.id)


@requests_group.command("show")
@click.argument("request_id")
@render.json_option
def requests_show(request_id, as_json):
    """A job request with one row per action: state, status code, times, whether its log exists at the site."""
    request = _client().request(request_id)
    render.echo_json(request) if as_json else show_request(request)


@requests_group.command("list")
@click.option("--workspace")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000), help="Show the newest N.")
@render.json_option
def requests_list(workspace, limit, as_json):
    requests = _client().newest_requests(limit, workspace)
    if as_json:
        return render.echo_json(requests)
    if not requests:
        return click.echo("no job requests yet")
    render.table(
        ("ID", "STATUS", "WORKSPACE", "COMMIT", "CREATED", "ACTIONS"),
        [
            (r.id, r.status, r.workspace, r.commit[:12], render.iso(r.created_at), ", ".join(r.requested_actions))
            for r in requests
        ],
    )


@requests_group.command("cancel")
@click.argument("request_id")
@click.argument("actions", nargs=-1)
def requests_cancel(request_id, actions):
    """Cancel a job request, or only ACTIONS of it."""
    request = _client().cancel(request_id, list(actions) or None)
    what = f"action(s) {', '.join(actions)} of" if actions else ""
    click.echo(f"cancel requested for {what} job request {request.id}: {request.status}".replace("  ", " "))


# ---- single-use tokens
@click.group("tokens")
def tokens_group():
    """Single-use tokens to log in to a site's airlock."""


@tokens_group.command("create")
@render.json_option
def tokens_create(as_json):
    """Make a single-use token (it replaces your last one): three words, valid one hour, used once."""
    token = _client().create_login_token()
    if as_json:
        return render.echo_json(token)
    click.echo(
        f"single-use token for {token.username}: {token.token}\n"
        f"Log in to the airlock with it before {render.iso(token.expires_at)}; it works once."
    )


# ---- publications
@click.group("publications")
def publications_group():
    """Draft a workspace's released files for publication; publish or reject drafts."""


def show_publication(publication) -> None:
    click.echo(
        f"publication {publication.id}  {publication.status.value}: {publication.title}\n"
        f"workspace {publication.workspace} (project {publication.project}), drafted by {publication.created_by}"
        + (f", {publication.status.value} by {publication.decided_by}" if publication.decided_by else "")
    )
    if publication.files:
        click.echo("")
        render.table(
            ("FILE", "PATH", "SIZE", "SHA256"),
            [(f.id, f.path, f.size, f.sha256) for f in publication.files],
        )


@publications_group.command("create")
@click.argument("workspace")
@click.option("--title", default="", help="Default: Outputs of WORKSPACE.")
@render.json_option
def publications_create(workspace, title, as_json):
    """Draft a publication of WORKSPACE's latest released files (ProjectDeveloper)."""
    publication = _client().create_publication(workspace, title)
    return render.echo_json(publication) if as_json else show_publication(publication)


@publications_group.command("list")
@click.argument("workspace")
@render.json_option
def publications_list(workspace, as_json):
    publications = _client().publications(workspace)
    if as_json:
        return render.echo_json(publications)
    if not publications:
        return click.echo(f"no publications of {workspace} that you may see")
    render.table(
        ("ID", "STATUS", "FILES", "DRAFTED BY", "TITLE"),
        [(p.id, p.status.value, len(p.files), p.created_by, p.title) for p in publications],
    )


@publications_group.command("show")
@click.argument("publication_id")
@render.json_option
def publications_show(publication_id, as_json):
    publication = _client().publication(publication_id)
    return render.echo_json(publication) if as_json else show_publication(publication)


@publications_group.command("publish")
@click.argument("publication_id")
def publications_publish(publication_id):
    """Publish a draft for everyone (OutputPublisher)."""
    show_publication(_client().decide_publication(publication_id, True))


@publications_group.command("reject")
@click.argument("publication_id")
def publications_reject(publication_id):
    """Reject a draft (OutputPublisher)."""
    show_publication(_client().decide_publication(publication_id, False))


COMMANDS = (projects_group, workspaces_group, requests_group, tokens_group, publications_group)
