"""`orchestrator airlock ...` (serve it at a site; log in with a single-use token; Level 4 files and logs)
and `orchestrator releases ...`: release requests at the airlock (ask, review, return, withdraw,
release) and, on the jobs site, the released files (list, download checked by sha256, delete, log)."""

import getpass
from pathlib import Path

import click

from orchestrator import render, startup
from orchestrator.airlock.client import AirlockClient
from orchestrator.airlock.models import ReleaseRequest
from orchestrator.client_config import client_from_env
from orchestrator.jobsite.client import JobsiteClient


@click.group("airlock")
def airlock_group():
    """The airlock: Level 4 files at this site, their review and release."""


@airlock_group.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8010, show_default=True, type=int)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
    help="Default: LOGLEVEL, else info",
)
@click.option(
    "--forwarded-allow-ips",
    default="127.0.0.1",
    show_default=True,
    help="The reverse proxies whose X-Forwarded-For/-Proto to trust (the login limit counts the client's address).",
)
def serve_command(host: str, port: int, log_level: str | None, forwarded_allow_ips: str):
    """Serve the airlock's API (/api/...; OpenAPI docs at /docs)."""
    import uvicorn

    from orchestrator.airlock.service import Airlock
    from orchestrator.settings import Settings

    try:
        Airlock.open(Settings()).db.dispose()  # check the settings and migrate, once, before serving
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    uvicorn.run(
        "orchestrator.airlock.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        log_level=startup.server_log_level(log_level),
        proxy_headers=True,
        forwarded_allow_ips=forwarded_allow_ips,
    )


@airlock_group.command("login")
@click.argument("username")
@click.option("--token", help="The three words from `orchestrator tokens create` (asked for if not given).")
def airlock_login(username, token):
    """Log in to the airlock with a single-use token made on the jobs site."""
    token = token or getpass.getpass("single-use token (three words): ")
    person = AirlockClient.from_env().login(username, token)
    projects = ", ".join(f"{slug} ({', '.join(roles)})" for slug, roles in person["memberships"].items()) or "none"
    click.echo(f"logged in as {person['username']}; projects: {projects}; roles: {', '.join(person['roles']) or '-'}")


@airlock_group.command("files")
@click.argument("workspace", required=False)
def airlock_files(workspace):
    """WORKSPACE's Level 4 files, or (without it) your workspaces at this site."""
    client = AirlockClient.from_env()
    if workspace is None:
        rows = [(w["name"], w["project"]) for w in client.get("/api/workspaces")]
        return render.table(("WORKSPACE", "PROJECT"), rows) if rows else click.echo("no workspaces of yours here")
    files = client.get(f"/api/workspaces/{workspace}/files")
    render.table(("PATH", "KIND", "SIZE"), [(f["path"], f["kind"], f["size"]) for f in files])


@airlock_group.command("view")
@click.argument("workspace")
@click.argument("path")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Save the bytes here.")
def airlock_view(workspace, path, output):
    """Show a Level 4 file (a CSV as a table, text as text), or save it with -o."""
    client = AirlockClient.from_env()
    view = client.get(f"/api/workspaces/{workspace}/files/{path}")
    click.echo(f"{view['path']}  {view['size']} bytes  sha256 {view['sha256']}")
    if output:
        output.write_bytes(client.call("GET", f"/api/workspaces/{workspace}/content/{path}").content)
        return click.echo(f"saved to {output}")
    if view.get("table"):
        render.table(tuple(view["table"]["header"]) or ("",), [tuple(row) for row in view["table"]["rows"]])
    elif view.get("text") is not None:
        click.echo(view["text"], nl=False)
    else:
        click.echo("(not text; save it with -o FILE)")


@airlock_group.command("log")
@click.argument("workspace")
@click.argument("action")
def airlock_log(workspace, action):
    """An action's log (live while it runs)."""
    click.echo(AirlockClient.from_env().call("GET", f"/api/workspaces/{workspace}/logs/{action}").text, nl=False)


# ---- release requests (at the airlock) and released files (on the jobs site)
@click.group("releases")
def releases_group():
    """Ask for Level 4 files to leave the site, review and release them (at the airlock); the released
    files on the jobs site (files, download, delete, log)."""


def show_request(request: dict) -> None:
    model = ReleaseRequest.model_validate(request)
    click.echo(
        f"release request {model.id}  {model.status.value}\n"
        f"workspace {model.workspace} (project {model.project}), asked by {model.author}"
        + (f", released by {model.released_by}" if model.released_by else "")
    )
    rows = []
    for file in model.files:
        reviews = ", ".join(f"{r.reviewer}: {r.decision.value}" for r in file.reviews) or "-"
        state = "withdrawn" if file.withdrawn else ("uploaded" if file.uploaded else "")
        rows.append((file.path, file.size, reviews, state, file.reason))
    click.echo("")
    render.table(("PATH", "SIZE", "REVIEWS", "STATE", "REASON"), rows)


@releases_group.command("request")
@click.argument("workspace")
@click.option(
    "-f",
    "--file",
    "files",
    type=(str, str),
    multiple=True,
    required=True,
    metavar="PATH REASON",
    help="A Level 4 file and why it is needed outside; repeat for more.",
)
def releases_request(workspace, files):
    """Ask for files of WORKSPACE's level4/ to be released (ProjectDeveloper)."""
    body = {"workspace": workspace, "files": [{"path": path, "reason": reason} for path, reason in files]}
    show_request(AirlockClient.from_env().post("/api/release-requests", body))


@releases_group.command("list")
@click.option("--workspace")
@click.option("--status", type=click.Choice(["submitted", "returned", "withdrawn", "releasing", "released"]))
def releases_list(workspace, status):
    """Release requests you may see, newest first (output checkers: all)."""
    params = {k: v for k, v in (("workspace", workspace), ("status", status)) if v}
    requests = AirlockClient.from_env().get("/api/release-requests", **params)
    rows = [(r["id"], r["status"], r["workspace"], r["author"], len(r["files"])) for r in requests]
    render.table(("ID", "STATUS", "WORKSPACE", "AUTHOR", "FILES"), rows) if rows else click.echo("no release requests")


@releases_group.command("show")
@click.argument("request_id")
def releases_show(request_id):
    show_request(AirlockClient.from_env().get(f"/api/release-requests/{request_id}"))


@releases_group.command("review")
@click.argument("request_id")
@click.argument("path")
@click.argument("decision", type=click.Choice(["approve", "reject"]))
@click.option("-m", "--comment", default="")
def releases_review(request_id, path, decision, comment):
    """Approve or reject one file of a request (OutputChecker, not its author)."""
    body = {"path": path, "decision": decision, "comment": comment}
    show_request(AirlockClient.from_env().post(f"/api/release-requests/{request_id}/reviews", body))


@releases_group.command("return")
@click.argument("request_id")
@click.option("-m", "--comment", default="")
def releases_return(request_id, comment):
    """Return a request to its author (OutputChecker)."""
    show_request(AirlockClient.from_env().post(f"/api/release-requests/{request_id}:return", {"comment": comment}))


@releases_group.command("submit")
@click.argument("request_id")
def releases_submit(request_id):
    """Submit a returned request again (its author)."""
    show_request(AirlockClient.from_env().post(f"/api/release-requests/{request_id}:submit"))


@releases_group.command("withdraw")
@click.argument("request_id")
@click.argument("paths", nargs=-1)
def releases_withdraw(request_id, paths):
    """Withdraw PATHS of a request, or (without PATHS) the whole request for good (its author)."""
    body = {"paths": list(paths)} if paths else {}
    show_request(AirlockClient.from_env().post(f"/api/release-requests/{request_id}:withdraw", body))


@releases_group.command("release")
@click.argument("request_id")
def releases_release(request_id):
    """Release an approved request to the jobs site (OutputChecker); again resumes a cut-off release."""
    show_request(AirlockClient.from_env().post(f"/api/release-requests/{request_id}:release"))


@releases_group.command("files")
@click.argument("workspace")
@render.json_option
def releases_files(workspace, as_json):
    """WORKSPACE's released files on the jobs site (its project's developers and collaborators)."""
    files = JobsiteClient(client_from_env()).released_files(workspace)
    if as_json:
        return render.echo_json(files)
    rows = [(f.id, f.path, f.size, f.release_id, render.iso(f.released_at), f.sha256) for f in files]
    render.table(("FILE", "PATH", "SIZE", "RELEASE", "RELEASED", "SHA256"), rows) if rows else click.echo(
        f"no released files in {workspace}"
    )


@releases_group.command("download")
@click.argument("file_id", type=int)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Default: the file's name.")
def releases_download(file_id, output):
    """Download a released file, checked against its sha256."""
    client = JobsiteClient(client_from_env())
    target = output or Path(client.released_file(file_id).path.rsplit("/", 1)[-1])
    file = client.download_released_file(file_id, target)
    click.echo(f"{file.path} -> {target} ({file.size} bytes, sha256 {file.sha256} checked)")


@releases_group.command("delete")
@click.argument("file_id", type=int)
def releases_delete(file_id):
    """Delete a file from its release: gone from every view (OutputChecker; the log keeps who and when)."""
    JobsiteClient(client_from_env()).delete_released_file(file_id)
    click.echo(f"released file {file_id} deleted")


@releases_group.command("log")
@click.argument("workspace")
def releases_log(workspace):
    """Who released, deleted, drafted, published or rejected WORKSPACE's outputs, when."""
    entries = JobsiteClient(client_from_env()).release_log(workspace)
    render.table(("WHEN", "WHO", "WHAT", "DETAIL"), [(render.iso(e.at), e.actor, e.action, e.detail) for e in entries])


COMMANDS = (airlock_group, releases_group)
