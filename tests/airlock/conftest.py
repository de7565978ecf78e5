"""Fixtures of the airlock's tests: the jobs site's world (runtime + jobs site over HTTP, people per
role, workspace alpha-main at site-a), a second output checker, a workspace directory with Level 4
files, highly_sensitive outputs and planted symlinks, and a real airlock server for site-a."""

import os
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from orchestrator.airlock.app import create_app
from orchestrator.airlock.service import Airlock
from orchestrator.settings import Settings
from tests.conftest import LiveServer
from tests.jobsite.conftest import jobsite, jobsite_server, repo, world  # noqa: F401  (fixtures)
from tests.jobsite.releases import second_checker

TABLE = "group,count\nA,10\nB,12\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
SECRET = "nhs_number,diagnosis\n123,flu\n"
# The roles of the permission tests: the jobs site's seven, and the author of a request who is also a checker.
ROLES = ("anonymous", "collaborator", "developer", "other_developer", "checker", "publisher", "admin")


def make_workspace(root: Path, name: str = "alpha-main") -> Path:
    ws = root / name
    (ws / "level4/output/figures").mkdir(parents=True)
    (ws / "output").mkdir()
    (ws / "metadata").mkdir()
    (ws / "level4/output/table.csv").write_text(TABLE)
    (ws / "level4/output/figures/plot.png").write_bytes(PNG)
    (ws / "level4/output/notes.txt").write_text("a note\n")
    (ws / "output/table.csv").write_text(TABLE)
    (ws / "output/secret.csv").write_text(SECRET)  # highly_sensitive: never in level4/
    (ws / "metadata/prepare.log").write_text("prepare: started\nwrote output/secret.csv\n")
    os.symlink("../../output/secret.csv", ws / "level4/output/linked.csv")  # planted links: never followed
    os.symlink("/etc/passwd", ws / "level4/passwd")
    os.symlink(ws / "output", ws / "level4/outdir")
    return ws


@dataclass
class AirlockWorld:
    url: str
    world: object
    airlock: Airlock
    workspaces: Path
    sessions: dict

    def login(self, username: str) -> requests.Response:
        token = self.world.jobsite.create_login_token(self.world.actor(username)).token
        return requests.post(self.url + "/api/login", json={"username": username, "token": token}, timeout=60)

    def session(self, username: str) -> str:
        if username not in self.sessions:
            response = self.login(username)
            assert response.status_code == 200, response.text
            self.sessions[username] = response.json()["session"]
        return self.sessions[username]

    def call(self, method: str, path: str, as_: str = "developer", **kwargs) -> requests.Response:
        headers = kwargs.pop("headers", {})
        if as_ != "anonymous":
            headers["Authorization"] = f"Bearer {self.session(as_)}"
        return requests.request(method, self.url + path, headers=headers, timeout=120, **kwargs)


@pytest.fixture
def airlock_settings(world, tmp_path, settings) -> Settings:  # noqa: F811  (the imported fixture)
    creds = world.store.generate_credentials("site-a")
    workspaces = tmp_path / "site-workspaces"
    make_workspace(workspaces)
    return settings.model_copy(
        update={
            "url": world.url,
            "site_id": "site-a",
            "client_id": creds.client_id,
            "client_secret": creds.client_secret,
            "workspaces_dir": workspaces,
            "airlock_dir": tmp_path / "airlock",
            "airlock_database_url": settings.database_url,  # beside the runtime's tables: names do not collide
        }
    )


@pytest.fixture
def airlock(world, airlock_settings):  # noqa: F811
    second_checker(world)
    service = Airlock.open(airlock_settings)
    with LiveServer(world.store, create_app(service)) as url:
        yield AirlockWorld(url, world, service, airlock_settings.workspaces_dir, {})
    service.db.dispose()
