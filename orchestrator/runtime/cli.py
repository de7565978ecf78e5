"""`orchestrator runtime ...`: serve the API and administer it directly on its database."""

import json
import secrets

import click

# The store, FastAPI and Alembic are imported inside the commands: `orchestrator submit` and friends
# should not pay their import time.


@click.group("runtime")
def runtime_group():
    """Serve and administer the central runtime (uses ORCHESTRATOR_DATABASE_URL, default SQLite under .orchestrator/)."""


@runtime_group.command("create-site")
@click.argument("site_id")
@click.option("--capability", "capabilities", multiple=True, help="A capability the site offers (repeatable).")
def create_site_command(site_id: str, capabilities: tuple[str, ...]):
    """Register a site and print its client credentials as JSON (the secret is shown only once)."""
    from orchestrator.runtime.models import SiteCreate
    from orchestrator.runtime.store import Store
    from orchestrator.settings import Settings

    store = Store.open(Settings())
    store.create_site(SiteCreate(id=site_id, capability_ids=list(capabilities)))
    creds = store.generate_credentials(site_id)
    click.echo(json.dumps(creds.model_dump()))


@runtime_group.command("create-user")
@click.argument("username")
@click.option("--password", help="Defaults to a generated one, printed once.")
@click.option("--admin", is_flag=True, help="May manage sites, object types, workflows and triggers.")
def create_user_command(username: str, password: str | None, admin: bool):
    """Create a user and print {"username", "password"} as JSON."""
    from orchestrator.runtime.store import Store
    from orchestrator.settings import Settings

    password = password or secrets.token_urlsafe(18)
    Store.open(Settings()).create_user(username, password, is_admin=admin)
    click.echo(json.dumps({"username": username, "password": password, "admin": admin}))
