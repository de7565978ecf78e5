"""Helpers for tests of released outputs: a site uploads released-output objects and records a release
as its airlock would, over HTTP with the site's token."""

import hashlib
import secrets

import requests

from orchestrator.jobsite.models import GlobalRole, PersonCreate
from tests.jobsite.conftest import ADMIN


def as_site(world, site_id: str = "site-a") -> dict:
    token = world.tokens.get(site_id)
    if token is None:
        creds = world.store.generate_credentials(site_id)
        token = world.tokens[site_id] = world.store.token_for_client(creds.client_id, creds.client_secret).access_token
    return {"Authorization": f"Bearer {token}"}


def upload(world, data: bytes, site_id: str = "site-a", types=("released-output",)) -> str:
    spec = {
        "name": "file",
        "types": list(types),
        "size": len(data),
        "checksums": [{"type": "sha256", "checksum": hashlib.sha256(data).hexdigest()}],
    }
    made = requests.post(world.url + "/objects", json=spec, headers=as_site(world, site_id), timeout=60)
    assert made.status_code == 201, made.text
    if made.json()["status"] != "ready":
        put = requests.put(
            f"{world.url}/objects/{made.json()['id']}/content", data=data, headers=as_site(world, site_id), timeout=60
        )
        assert put.status_code == 200, put.text
    return made.json()["id"]


def second_checker(world) -> str:
    if "checker2" not in world.passwords:
        world.passwords["checker2"] = secrets.token_urlsafe(12)
        world.jobsite.create_person(
            PersonCreate(
                username="checker2",
                password=world.passwords["checker2"],
                email="checker2@example.org",
                roles=[GlobalRole.OUTPUT_CHECKER],
            ),
            ADMIN,
        )
    return "checker2"


def release_body(world, files: dict[str, bytes], release_id: str | None = None, **overrides) -> dict:
    return {
        "id": release_id or "rel-" + secrets.token_hex(6),
        "workspace": "alpha-main",
        "requested_by": "developer",
        "released_by": "checker",
        "reviewers": ["checker", second_checker(world)],
        "files": [{"path": path, "object_id": upload(world, data)} for path, data in files.items()],
        **overrides,
    }


def record(world, body: dict, site_id: str = "site-a") -> requests.Response:
    return requests.post(world.url + "/api/releases", json=body, headers=as_site(world, site_id), timeout=60)
