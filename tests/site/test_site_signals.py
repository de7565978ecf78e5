"""Safe at any moment: a real `dagster-daemon` site runs pipeline jobs, and at each step boundary of a
job -- copying the code in, running the action, copying its outputs out, reporting -- the test sends
SIGTERM to every process of the site (as `systemctl stop` does: the daemon, its code server, the run
worker and the action processes), and separately SIGKILL. Then the site starts again. Every job ends
succeeded, once (one operation carries its result; the others were released or expired), no process
of the stopped site is left, and the workspace holds whole outputs only: what a stopped copy left
half-done is never an output, and `orchestrator site disk --cleanup` clears it."""

import hashlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from orchestrator.pipeline import pack_directory
from orchestrator.pipeline.jobdirs import JobDirs
from orchestrator.runtime.store import Store
from tests.site.stack import BIN, register_as_admin, wait_for
from tests.site.test_e2e import ON_SQLITE, Site, add_untriggered_type, logs, operations_of, wait_status

BIG = 200 * 2**20  # bytes the study brings in and the action writes out: copies take a moment to catch
ACTION = """\
import pathlib, sys, time
time.sleep(float(sys.argv[1]))
out = pathlib.Path("output/big.bin")
out.parent.mkdir(exist_ok=True)
with open(out, "wb") as file:
    for _ in range(200):
        file.write(b"\\0" * 2**20)
"""
PROJECT = """\
version: '4.0'
actions:
  big:
    run: python:v2 analysis/big.py {sleep}
    outputs: {{highly_sensitive: {{data: output/big.bin}}}}
"""
STEPS = ("copying code in", "running the action", "copying outputs out", "reporting")


def site_processes(root_pid: int) -> list[int]:
    """The daemon and every process it started, however deep and in whatever session (an action runs in
    its own): what systemd's control group of the unit holds."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [root_pid]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is gone for our purposes
        return (Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]) != "Z"
    except OSError:
        return False


def stop_site(site: Site, sig: int) -> list[int]:
    """Send `sig` to every process of the site at once; with SIGTERM wait for them to end on their own
    (systemd waits TimeoutStopSec, 60 s, for dagster-daemon). Returns the processes that were signalled."""
    pids = site_processes(site.daemon.process.pid)
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
    wait_for(lambda: not any(alive(pid) for pid in pids), 60, f"every process of the site to end after {sig.name}")
    site.daemon.process.wait(10)
    site.daemon.log.close()
    return pids


def make_study(root: Path, sleep: float, nonce: str) -> Path:
    study = root / f"study-{nonce}"
    (study / "analysis").mkdir(parents=True)
    (study / "project.yaml").write_text(PROJECT.format(sleep=sleep))
    (study / "analysis" / "big.py").write_text(ACTION)
    (study / "analysis" / "nonce.txt").write_text(nonce)  # every study a new object
    with open(study / "analysis" / "reference.bin", "wb") as file:  # copied into each job directory
        file.truncate(BIG)
    return study


class Scenario:
    def __init__(self, admin, site: Site, tmp_path: Path, step: str, sig: int):
        self.admin, self.site, self.step, self.sig = admin, site, step, sig
        self.workspace = f"w-{STEPS.index(step)}-{sig.name.lower()}"
        self.home = Path(site.env["ORCHESTRATOR_HOME"])
        self.jobs = JobDirs(self.home / "jobs")
        self.study = make_study(tmp_path, 1 if step != "running the action" else 3, self.workspace)

    def submit(self) -> str:
        archive = self.study.with_suffix(".tar.gz")
        pack_directory(self.study, archive)
        obj = self.admin.create_object(archive.read_bytes(), name="study.tar.gz", types=["payload"])
        config = {"workspace": self.workspace, "actions": ["run_all"]}
        self.job_id = self.admin.create_job("pipeline-1.0.0", [obj["id"]], config=config, max_attempts=10)["id"]
        return self.job_id

    def manifest(self) -> dict:
        try:
            return json.loads((self.home / "workspaces" / self.workspace / "metadata" / "manifest.json").read_text())
        except (OSError, ValueError):
            return {}

    def manifest_entry(self) -> dict:
        return self.manifest().get("actions", {}).get("big", {})

    def at_the_step(self) -> bool:
        records = [r for r in self.jobs.records() if r.workspace == self.workspace and not r.finished]
        staging = self.home / "workspaces" / self.workspace / "metadata" / ".staging"
        if self.step == "copying code in":
            return any(r.pid is None for r in records)
        if self.step == "running the action":
            return any(r.pid and alive(r.pid) for r in records)
        if self.step == "copying outputs out":
            return staging.is_dir() and any(staging.iterdir())
        return self.manifest_entry().get("status_code") == "SUCCEEDED"  # reporting: outputs in, report going


def slow_final_reports(store: Store, monkeypatch, seconds: float) -> None:
    """The runtime takes `seconds` to take a final report: the site is stopped while its report is in flight."""
    update = store.update_operation

    def slowly(op_id, site, patch):
        if patch.done:
            time.sleep(seconds)
        return update(op_id, site, patch)

    monkeypatch.setattr(store, "update_operation", slowly)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@ON_SQLITE
@pytest.mark.timeout(1500)
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_stopping_the_site_at_each_step_loses_and_duplicates_nothing(
    store, server, admin, repo, tmp_path, sites, monkeypatch, sig
):
    site = Site.create(
        store,
        server,
        repo,
        tmp_path,
        "site-1",
        ORCHESTRATOR_SITE_LEASE_SECONDS="8",  # a killed site's jobs come back quickly
        ORCHESTRATOR_HOME=str(tmp_path / "site-home"),
    )
    register_as_admin(repo, site.env, admin)
    add_untriggered_type(admin)
    sites.append(site.start())
    for step in STEPS:
        scenario = Scenario(admin, site, tmp_path, step, sig)
        if step == "reporting":
            slow_final_reports(store, monkeypatch, 4)
        job_id = scenario.submit()
        wait_for(scenario.at_the_step, 240, f"job {job_id} to be {step}", every=0.02, on_timeout=site.output)
        stopped = stop_site(site, sig)
        monkeypatch.undo()
        print(f"[{sig.name}] stopped the site {step}: {len(stopped)} processes", flush=True)
        assert not [pid for pid in stopped if alive(pid)], "a process of the stopped site is still there"

        site.start()
        wait_status(admin, job_id, "succeeded", 240, site)
        ops = operations_of(admin, job_id)
        with_result = [o for o in ops if o["result"] is not None]
        assert len(with_result) == 1 and with_result[0]["error"] is None, logs(admin, job_id, site)
        assert {o["error"]["code"] for o in ops if o["result"] is None} <= {"LEASE_EXPIRED", "RELEASED"}, ops
        print(f"[{sig.name}] {step}: operations {[(o['error'] or {}).get('code', 'result') for o in ops]}", flush=True)
        entry = scenario.manifest_entry()
        assert entry["status_code"] == "SUCCEEDED", entry
        output = scenario.home / "workspaces" / scenario.workspace / "output" / "big.bin"
        assert entry["outputs"] == ["output/big.bin"]
        recorded = scenario.manifest()["files"]["output/big.bin"]
        assert output.stat().st_size == BIG == recorded["size"] and sha256(output) == recorded["sha256"]

    cleaned = subprocess.run(
        [str(BIN / "orchestrator"), "site", "disk", "--cleanup"],
        cwd=site.repo,
        env={**site.env, "DAGSTER_HOME": str(site.home)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cleaned.returncode == 0, cleaned.stderr
    workspaces = Path(site.env["ORCHESTRATOR_HOME"]) / "workspaces"
    assert not [p for p in workspaces.glob("*/metadata/.staging/*")], cleaned.stdout
    assert [r for r in JobDirs(Path(site.env["ORCHESTRATOR_HOME"]) / "jobs").records() if not r.finished] == []
