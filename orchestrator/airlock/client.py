"""The CLI's way into an airlock: its URL (ORCHESTRATOR_AIRLOCK_URL, else the one `orchestrator up`
saved, else the last login's) and the session a login with a single-use token made, kept in
$ORCHESTRATOR_HOME/airlock-session.json (mode 600). Errors come back as RuntimeClientError, so the CLI
prints them like the runtime's."""

import json
from pathlib import Path

import requests

from orchestrator.client_config import load_saved
from orchestrator.runtime.client import RuntimeClientError
from orchestrator.settings import Settings

DEFAULT_URL = "http://127.0.0.1:8010"


def session_file(home: Path) -> Path:
    return home / "airlock-session.json"


class AirlockClient:
    def __init__(self, url: str, session: str | None, home: Path):
        self.url, self.session, self.home = url.rstrip("/"), session, home

    @classmethod
    def from_env(cls, settings: Settings | None = None) -> "AirlockClient":
        settings = settings or Settings()
        path = session_file(settings.home)
        saved = json.loads(path.read_text()) if path.is_file() else {}
        url = settings.airlock_url or load_saved(settings.home).get("airlock_url") or saved.get("url") or DEFAULT_URL
        return cls(url, saved.get("session") if saved.get("url", url) == url else None, settings.home)

    def login(self, username: str, token: str) -> dict:
        answer = self.call("POST", "/api/login", {"username": username, "token": token}, auth=False).json()
        path = session_file(self.home)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600, exist_ok=True)
        path.write_text(json.dumps({"url": self.url, "session": answer["session"], "username": username}))
        self.session = answer["session"]
        return answer["person"]

    def call(self, method: str, path: str, body=None, *, auth: bool = True, **params) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.session}"} if auth and self.session else {}
        try:
            response = requests.request(
                method, self.url + path, json=body, params=params or None, headers=headers, timeout=120
            )
        except requests.RequestException as exc:
            raise RuntimeClientError(
                0,
                "AIRLOCK_UNREACHABLE",
                f"No airlock answers at {self.url} ({type(exc).__name__}); set ORCHESTRATOR_AIRLOCK_URL "
                "to your site's airlock (`make run` starts one on port 8010).",
            ) from exc
        if response.status_code >= 400:
            try:
                body = response.json()
                code, message = body["code"], body["message"]
            except (ValueError, KeyError, TypeError):
                code, message = "HTTP_ERROR", response.text[:300]
            if code in ("LOGIN_REQUIRED", "SESSION_EXPIRED"):
                message += " (orchestrator airlock login USERNAME)"
            raise RuntimeClientError(response.status_code, code, message)
        return response

    def get(self, path: str, **params):
        return self.call("GET", path, **params).json()

    def post(self, path: str, body=None):
        return self.call("POST", path, body).json()
