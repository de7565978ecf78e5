"""A release cut off half-way (the airlock process killed while it uploads a file) finishes when a
checker releases again: no file is sent into a second object, the release is recorded once, and the
jobs site ends with exactly the request's files. The airlock runs as a real `orchestrator airlock
serve` process; the runtime (in this process) holds the second upload until the airlock is dead."""

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time

import requests
from sqlalchemy import func, select

from orchestrator.jobsite import schema as t
from orchestrator.runtime import schema as s
from tests.airlock.test_release_requests import FILES, approve_all
from tests.jobsite.smtp import free_port


class AirlockProcess:
    def __init__(self, settings, log_path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("ORCHESTRATOR_")},
            "ORCHESTRATOR_HOME": str(log_path.parent / "airlock-home"),
            "ORCHESTRATOR_URL": settings.url,
            "ORCHESTRATOR_SITE_ID": settings.site_id,
            "ORCHESTRATOR_CLIENT_ID": settings.client_id,
            "ORCHESTRATOR_CLIENT_SECRET": settings.client_secret,
            "ORCHESTRATOR_WORKSPACES_DIR": str(settings.workspaces_dir),
            "ORCHESTRATOR_AIRLOCK_DIR": str(settings.airlock_dir),
            "ORCHESTRATOR_AIRLOCK_DATABASE_URL": settings.airlock_database_url,
        }
        self.log_path = log_path

    def start(self) -> "AirlockProcess":
        self.log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "orchestrator.cli", "airlock", "serve", "--port", str(self.port)],
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log_path.read_text()
            try:
                if requests.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                time.sleep(0.1)
        raise AssertionError(f"the airlock did not start:\n{self.log_path.read_text()}")

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)
        self.log.close()


def test_a_release_killed_mid_upload_finishes_on_retry_without_duplicates(airlock, airlock_settings, tmp_path):
    world = airlock.world
    first = AirlockProcess(airlock_settings, tmp_path / "airlock-1.log").start()
    session = airlock.session("checker")  # sessions live in the airlock's database: they outlive the process
    auth = {"Authorization": f"Bearer {session}"}
    rid = airlock.call("POST", "/api/release-requests", json={"workspace": "alpha-main", "files": FILES}).json()["id"]
    approve_all(airlock, rid, [f["path"] for f in FILES])

    uploads, second_arrived, go_on = [], threading.Event(), threading.Event()
    original = world.store.upload_content

    async def held_second_upload(object_id, stream):
        uploads.append(object_id)
        if len(uploads) == 2:
            second_arrived.set()
            await asyncio.to_thread(go_on.wait, 60)
        return await original(object_id, stream)

    world.store.upload_content = held_second_upload
    try:
        cut_off = threading.Thread(
            target=lambda: _swallow(
                lambda: requests.post(f"{first.url}/api/release-requests/{rid}:release", headers=auth, timeout=60)
            )
        )
        cut_off.start()
        assert second_arrived.wait(60), first.log_path.read_text()
        first.kill()
        go_on.set()
        cut_off.join(60)
    finally:
        world.store.upload_content = original
    assert airlock.call("GET", f"/api/release-requests/{rid}", as_="checker").json()["status"] == "releasing"
    assert world.call("GET", "/api/workspaces/alpha-main/released-files").json()["items"] == []

    second = AirlockProcess(airlock_settings, tmp_path / "airlock-2.log").start()
    try:
        resumed = requests.post(f"{second.url}/api/release-requests/{rid}:release", headers=auth, timeout=60)
        assert resumed.status_code == 200, (resumed.text, second.log_path.read_text())
        assert resumed.json()["status"] == "released"
    finally:
        second.kill()

    with world.store.read() as conn:
        objects = conn.execute(
            select(func.count())
            .select_from(s.object_type_links)
            .where(s.object_type_links.c.type_id == "released-output")
        ).scalar()
        pending = conn.execute(select(func.count()).select_from(s.uploads)).scalar()
        recorded = conn.execute(select(func.count()).select_from(t.released_files)).scalar()
    assert (objects, pending, recorded) == (2, 0, 2)
    assert len(set(uploads)) == 2  # the retry sent into the object the first process had made
    files = world.call("GET", "/api/workspaces/alpha-main/released-files").json()["items"]
    assert sorted(f["path"] for f in files) == sorted(f["path"] for f in FILES)


def _swallow(call):
    try:
        call()
    except requests.RequestException:
        pass  # the airlock died under this request, as intended
