"""Where the CLI finds the runtime and its credentials: environment first, then the local save.

`orchestrator up` saves a local admin's credentials to $ORCHESTRATOR_HOME/credentials.json (mode
600) so a new user's first `orchestrator submit` works without setup.
"""
import json
import os
from pathlib import Path

from orchestrator.runtime.client import Credentials, RuntimeClient
from orchestrator.runtime.settings import _home

DEFAULT_URL = "http://127.0.0.1:8000"


def credentials_file() -> Path:
    return _home() / "credentials.json"


def save_credentials(url: str, username: str, password: str) -> Path:
    path = credentials_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.write_text(json.dumps({"url": url, "username": username, "password": password}))
    return path


def load_saved() -> dict:
    path = credentials_file()
    return json.loads(path.read_text()) if path.is_file() else {}


def client_from_env() -> RuntimeClient:
    saved = load_saved()
    env = os.environ.get
    creds = Credentials(client_id=env("ORCHESTRATOR_CLIENT_ID"), client_secret=env("ORCHESTRATOR_CLIENT_SECRET"),
                        username=env("ORCHESTRATOR_USERNAME"), password=env("ORCHESTRATOR_PASSWORD"))
    if not (creds.client_id or creds.username):
        creds.username, creds.password = saved.get("username"), saved.get("password")
    return RuntimeClient(env("ORCHESTRATOR_URL") or saved.get("url") or DEFAULT_URL, creds, max_retries=2)
