"""`orchestrator airlock serve`: the airlock at a site (ORCHESTRATOR_SITE_ID, the site's client
credentials, ORCHESTRATOR_WORKSPACES_DIR); its database is migrated before it serves."""

import click


@click.group("airlock")
def airlock_group():
    """The airlock: Level 4 files at this site, their review and release."""


@airlock_group.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8010, show_default=True, type=int)
@click.option(
    "--log-level", default="info", show_default=True, type=click.Choice(["debug", "info", "warning", "error"])
)
def serve_command(host: str, port: int, log_level: str):
    """Serve the airlock's API (/api/...; OpenAPI docs at /docs)."""
    import uvicorn

    from orchestrator.airlock.service import Airlock
    from orchestrator.settings import Settings

    settings = Settings()
    try:
        Airlock.open(settings).db.dispose()  # check the settings and migrate, once, before workers start
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    uvicorn.run("orchestrator.airlock.app:app_from_env", factory=True, host=host, port=port, log_level=log_level)
