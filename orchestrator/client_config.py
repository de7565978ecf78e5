"""Where the CLI finds the runtime and its credentials: environment first, then the local save.

`orchestrator up` saves a local admin's credentials to $ORCHESTRATOR_HOME/credentials.json (mode
600) so a new user's first `orchestrator submit` works without setup.
"""

import json
from pathlib import Path

from orchestrator.runtime.client import Credentials, RuntimeClient
from orchestrator.settings import Settings

DEFAULT_URL = "http://127.0.0.1:8000"


def credentials_file(home: Path) -> Path:
    return home / "credentials.json"


def save_credentials(home: Path, url: str, username: str, password: str) -> Path:
    path = credentials_file(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.write_text(json.dumps({"url": url, "username": username, "password": password}))
    return path


def load_saved(home: Path) -> dict:
    path = credentials_file(home)
    return json.loads(path.read_text()) if path.is_file() else {}


def client_from_env(settings: Settings | None = None) -> RuntimeClient:
    settings = settings or Settings()
    saved = load_saved(settings.home)
    creds = Credentials(
        client_id=settings.client_id or None,
        client_secret=settings.client_secret or None,
        username=settings.username or None,
        password=settings.password or None,
    )
    if not (creds.client_id or creds.username):
        creds.username, creds.password = saved.get("username"), saved.get("password")
    return RuntimeClient(settings.url or saved.get("url") or DEFAULT_URL, creds, max_retries=2)


def save_airlock_url(home: Path, airlock_url: str) -> None:
    """Beside the saved credentials: where `orchestrator up` runs the local site's airlock."""
    path = credentials_file(home)
    saved = load_saved(home)
    path.write_text(json.dumps({**saved, "airlock_url": airlock_url}))
