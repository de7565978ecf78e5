"""End to end: real `dagster-daemon` sites (sensors, code server, run workers) against a live runtime.

Each test runs on one backend only (a daemon costs seconds of CPU per run): SQLite for the
single-site tests, PostgreSQL for the two-site test, where two Dagster instances share one runtime.
Wall times are printed (run pytest with -s to see them).
"""

import json
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import pytest

from orchestrator.runtime.client import RuntimeClient, RuntimeClientError
from orchestrator.runtime.models import SiteCreate
from orchestrator.runtime.store.jobs import job_id_for
from orchestrator.workflows.common import JOB_TAG, OPERATION_TAG, SITE_TAG, WORKFLOW_TAG
from tests.conftest import REPO_ROOT
from tests.site.stack import SiteDaemon, register_as_admin, site_env, wait_for

ON_SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
ON_POSTGRES = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)

ECHO, METADATA_IN, APPLY_CHANGESHEET = "echo-1.0.0", "metadata-in-1.0.0", "apply-changesheet-1.0.0"
EXAMPLES = REPO_ROOT / "examples" / "metadata"
TERMINAL = {"succeeded", "failed", "cancelled"}


# ---------------------------------------------------------------- helpers


@dataclass
class Site:
    """One site: an id and credentials in the runtime, a DAGSTER_HOME, and a daemon (started on demand)."""

    id: str
    repo: Path
    home: Path
    env: dict
    log: Path
    daemons: list[SiteDaemon] = field(default_factory=list)

    @classmethod
    def create(cls, store, server: str, repo: Path, tmp_path: Path, site_id: str, **extra_env: str) -> "Site":
        store.create_site(SiteCreate(id=site_id))
        creds = store.generate_credentials(site_id).model_dump()
        home = tmp_path / f"dagster-{site_id}"
        return cls(
            site_id,
            repo,
            home,
            site_env(repo, home, server, site_id, creds, **extra_env),
            tmp_path / f"daemon-{site_id}.log",
        )

    @property
    def daemon(self) -> SiteDaemon:
        return self.daemons[-1]

    def start(self) -> "Site":
        self.daemons.append(SiteDaemon(self.repo, self.env, self.log).start())
        return self

    def stop(self) -> None:
        for daemon in self.daemons:
            if daemon.process is not None and not daemon.log.closed:
                daemon.stop()

    def output(self) -> str:
        return f"--- {self.id} daemon log (tail) ---\n" + self.log.read_text(errors="replace")[-6000:]

    def instance(self) -> dg.DagsterInstance:
        return dg.DagsterInstance.from_config(str(self.home))


def run_of(site: Site, run_id: str) -> dg.DagsterRun | None:
    instance = site.instance()
    try:
        return instance.get_run_by_id(run_id)
    finally:
        instance.dispose()


def operations_of(admin: RuntimeClient, job_id: str) -> list[dict]:
    return list(admin.iterate("/operations", job_id=job_id))


def reconcile_notes(*sites: Site) -> list[str]:
    """What the lease/reconcile sensor did beyond renewing leases (stops, releases, settled runs)."""
    return [
        f"{s.id}: {line.split('skipped: ', 1)[-1]}"
        for s in sites
        for line in s.log.read_text(errors="replace").splitlines()
        if "lease_reconcile skipped" in line and not line.endswith("lease(s)")
    ]


def only_operation(admin: RuntimeClient, job_id: str, *sites: Site) -> dict:
    """The job ran once: one claim, one operation (a second one means it was released or expired)."""
    ops = operations_of(admin, job_id)
    assert len(ops) == 1, (
        f"job {job_id} has {len(ops)} operations, not 1: "
        f"{[(o['id'], o['site_id'], o['error'], o['result']) for o in ops]}\n"
        f"reconcile notes: {reconcile_notes(*sites)}"
    )
    return ops[0]


def wait_status(admin: RuntimeClient, job_id: str, wanted: str, timeout: float, *sites: Site) -> dict:
    """Wait until the job reaches `wanted`; a different final status fails at once with the logs."""

    def check():
        try:
            job = admin.get(f"/jobs/{job_id}")
        except RuntimeClientError as exc:
            if exc.status == 404:  # the new-objects sensor has not made it yet
                return None
            raise
        if job["status"] in TERMINAL and job["status"] != wanted:
            raise AssertionError(
                f"job {job_id} ended {job['status']}, not {wanted}: {job}\n"
                f"operations: {json.dumps(operations_of(admin, job_id), indent=1, default=str)}\n"
                + "\n".join(s.output() for s in sites)
            )
        return job if job["status"] == wanted else None

    return wait_for(check, timeout, f"job {job_id} to be {wanted}", on_timeout=lambda: logs(admin, job_id, *sites))


def logs(admin: RuntimeClient, job_id: str, *sites: Site) -> str:
    try:
        job = admin.get(f"/jobs/{job_id}")
    except RuntimeClientError as exc:
        job = str(exc)
    return f"job: {job}\noperations: {json.dumps(operations_of(admin, job_id), indent=1, default=str)}\n" + "\n".join(
        s.output() for s in sites
    )


def wait_run_ended(site: Site, run_id: str, timeout: float) -> dg.DagsterRun:
    ended = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}
    return wait_for(
        lambda: (lambda r: r if r and r.status in ended else None)(run_of(site, run_id)),
        timeout,
        f"Dagster run {run_id} to end",
        every=1,
        on_timeout=site.output,
    )


def ended_runs(site: Site) -> list[dg.DagsterRun] | None:
    """The site's workflow runs once none is in progress (a run reports its result just before it ends)."""
    instance = site.instance()
    try:
        runs = instance.get_runs(dg.RunsFilter(tags={SITE_TAG: site.id}))
    finally:
        instance.dispose()
    return None if any(not r.is_finished for r in runs) else runs


def add_untriggered_type(admin: RuntimeClient) -> None:
    """Inputs for jobs the test creates itself: no trigger makes a second job for them."""
    admin.put("/object_types/payload", {"id": "payload", "name": "Test payload"})


class Clock:
    def __init__(self, name: str):
        self.name, self.start = name, time.monotonic()

    def lap(self, what: str) -> float:
        elapsed = time.monotonic() - self.start
        print(f"[{self.name}] {what}: {elapsed:.1f} s", flush=True)
        return elapsed


# ---------------------------------------------------------------- tests


@ON_SQLITE
@pytest.mark.timeout(420)
def test_submit_runs_to_success_with_tagged_run(store, server, admin, repo, tmp_path, sites):
    clock = Clock("submit")
    site = Site.create(store, server, repo, tmp_path, "site-1")
    register_as_admin(repo, site.env, admin)
    sites.append(site.start())
    note = admin.create_object(b"hello from the e2e test", name="hello.txt", types=["note"])
    job_id = job_id_for(ECHO, [note["id"]])
    job = wait_status(admin, job_id, "succeeded", 180, site)
    clock.lap("submitted -> succeeded")

    op = only_operation(admin, job_id, site)
    assert op["id"] == job["operation_id"] and op["site_id"] == "site-1"
    assert op["done"] and op["error"] is None and op["result"] == {"echo": ["hello.txt"]}
    assert job["attempts"] == 0
    run_id = op["metadata"]["dagster_run_id"]
    run = wait_run_ended(site, run_id, 60)
    assert run.status == dg.DagsterRunStatus.SUCCESS, (run.status, reconcile_notes(site))
    assert run.job_name == "echo"
    assert run.tags[JOB_TAG] == job_id
    assert run.tags[OPERATION_TAG] == op["id"]
    assert run.tags[WORKFLOW_TAG] == ECHO
    assert run.tags[SITE_TAG] == "site-1"
    clock.lap("total")


@ON_SQLITE
@pytest.mark.timeout(420)
def test_metadata_in_rejects_invalid_and_registers_valid(store, server, admin, repo, tmp_path, sites):
    clock = Clock("metadata-in")
    site = Site.create(store, server, repo, tmp_path, "site-1")
    register_as_admin(repo, site.env, admin)
    sites.append(site.start())
    invalid = admin.create_object(
        EXAMPLES / "invalid-study.json", name="invalid-study.json", types=["metadata-in"], mime_type="application/json"
    )
    valid = admin.create_object(
        EXAMPLES / "study.json", name="study.json", types=["metadata-in"], mime_type="application/json"
    )
    bad_job, good_job = job_id_for(METADATA_IN, [invalid["id"]]), job_id_for(METADATA_IN, [valid["id"]])

    wait_status(admin, bad_job, "failed", 240, site)
    clock.lap("invalid -> failed")
    op = only_operation(admin, bad_job, site)
    assert op["done"] and op["result"] is None
    assert op["error"]["code"] == "VALIDATION_FAILED", op["error"]
    details = op["error"]["details"]
    assert details["schema"] == "study-metadata"
    paths = {e["path"] for e in details["errors"]}
    # invalid-study.json: a bad id prefix, an empty name, a bad e-mail and an impossible date
    assert paths == {
        "/study_set/0/id",
        "/study_set/0/name",
        "/study_set/0/principal_investigator/email",
        "/biosample_set/0/collection_date",
    }, details
    assert all(e["message"] for e in details["errors"])
    assert admin.get(f"/jobs/{bad_job}")["attempts"] == 0  # a validation failure is final, not retried

    job = wait_status(admin, good_job, "succeeded", 240, site)
    clock.lap("valid -> succeeded")
    op = only_operation(admin, good_job, site)
    assert op["id"] == job["operation_id"] and op["error"] is None
    assert op["result"]["valid"] is True and op["result"]["schema"] == "study-metadata"
    assert op["result"]["inserted"]["biosample_set"] == ["nmdc:bsm-11-a1", "nmdc:bsm-11-a2"]
    assert admin.get("/metadata/study_set/nmdc:sty-11-demo01")["document"]["name"].startswith("Soil")
    validated = admin.get(f"/objects/{op['result']['object_id']}")
    assert validated["types"] == ["metadata-validated"] and validated["name"] == "study.json"
    assert validated["checksums"] == valid["checksums"]  # the same bytes, registered under the new type
    listed = admin.get("/objects", types=["metadata-validated"])["items"]
    assert [o["id"] for o in listed] == [validated["id"]]  # the invalid document made none

    # A changesheet submitted through the API: its trigger makes an apply-changesheet job the site runs.
    sheet = admin.submit_changesheet((EXAMPLES / "changesheet.tsv").read_bytes())
    applied = wait_status(admin, job_id_for(APPLY_CHANGESHEET, [sheet.id]), "succeeded", 240, site)
    clock.lap("changesheet -> applied")
    changed = only_operation(admin, applied["id"], site)["result"]["changes"]
    assert {c["id"] for c in changed} == {"nmdc:bsm-11-a1", "nmdc:sty-11-demo01"}
    assert admin.metadata_document("biosample_set", "nmdc:bsm-11-a1").document["depth_m"] == 0.15
    clock.lap("total")


@ON_SQLITE
@pytest.mark.timeout(420)
def test_cancel_mid_run_stops_the_dagster_run(store, server, admin, repo, tmp_path, sites):
    clock = Clock("cancel")
    site = Site.create(store, server, repo, tmp_path, "site-1")
    register_as_admin(repo, site.env, admin)
    add_untriggered_type(admin)
    sites.append(site.start())
    payload = admin.create_object(b"slow", name="slow.txt", types=["payload"])
    job = admin.create_job(ECHO, [payload["id"]], config={"sleep_seconds": 60})

    def running():
        current = admin.get(f"/jobs/{job['id']}")
        if current["status"] != "claimed":
            assert current["status"] == "open", logs(admin, job["id"], site)
            return None
        op = admin.get(f"/operations/{current['operation_id']}")
        return op if op["metadata"].get("dagster_run_id") else None

    op = wait_for(running, 180, "the echo run to start", on_timeout=lambda: logs(admin, job["id"], site))
    run_id = op["metadata"]["dagster_run_id"]
    clock.lap("run started")
    time.sleep(2)  # into echo_names' sleep
    assert admin.post(f"/jobs/{job['id']}:cancel")["status"] == "claimed"  # the site is asked to stop it
    assert admin.get(f"/operations/{op['id']}")["cancel_requested"] is True

    cancelled_at = time.monotonic()
    wait_status(admin, job["id"], "cancelled", 90, site)
    print(f"[cancel] cancel -> cancelled in {time.monotonic() - cancelled_at:.1f} s")
    ops = operations_of(admin, job["id"])
    assert [o["id"] for o in ops] == [op["id"]], ops  # cancelled, not retried
    final = ops[0]
    assert final["done"] and final["result"] is None
    assert final["error"]["code"] == "CANCELLED", final["error"]
    run = wait_run_ended(site, run_id, 90)
    assert run.status == dg.DagsterRunStatus.CANCELED, (run.status, reconcile_notes(site))
    assert admin.get(f"/jobs/{job['id']}")["status"] == "cancelled"
    clock.lap("total")


def group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def start_slow_echo(admin: RuntimeClient, site: Site, sleep_seconds: float) -> tuple[dict, dict]:
    """An echo job (its own input, no trigger) and its first operation once the run is inside echo_names."""
    payload = admin.create_object(f"slow {time.time_ns()}".encode(), name="slow.txt", types=["payload"])
    job = admin.create_job(ECHO, [payload["id"]], config={"sleep_seconds": sleep_seconds}, max_attempts=10)

    def running():
        current = admin.get(f"/jobs/{job['id']}")
        assert current["status"] in ("open", "claimed"), logs(admin, job["id"], site)
        op = admin.get(f"/operations/{current['operation_id']}") if current["status"] == "claimed" else None
        return op if op and op["metadata"].get("dagster_run_id") and not op["done"] else None

    op = wait_for(running, 180, "the echo run to start", on_timeout=lambda: logs(admin, job["id"], site))
    return job, op


def assert_nothing_lost(admin: RuntimeClient, job_id: str, first_op: dict, *sites: Site) -> list[dict]:
    """The job succeeded on a later attempt; exactly one operation carries a result; the dead one was closed."""
    job = wait_status(admin, job_id, "succeeded", 240, *sites)
    ops = operations_of(admin, job_id)
    print(f"operations: {[(o['id'], o['site_id'], (o['error'] or {}).get('code'), bool(o['result'])) for o in ops]}")
    assert all(o["done"] for o in ops), ops
    with_result = [o for o in ops if o["result"] is not None]
    assert len(with_result) == 1, ops
    assert with_result[0]["id"] == job["operation_id"] and with_result[0]["error"] is None
    assert with_result[0]["id"] != first_op["id"], "the first run cannot have finished: it was killed"
    first = next(o for o in ops if o["id"] == first_op["id"])
    assert first["error"]["code"] in ("LEASE_EXPIRED", "RELEASED"), first
    assert {o["error"]["code"] for o in ops if o["result"] is None} <= {"LEASE_EXPIRED", "RELEASED"}, ops
    assert len(ops) >= 2 and job["attempts"] == len(ops) - 1, (job, ops)
    return ops


KILL_LEASE = "8"  # seconds: short, so a dead site's claims come back quickly; a live daemon renews it every tick


def wait_lease_expired(admin: RuntimeClient, op_id: str, died_at: float) -> dict:
    """The operation of a dead site is closed LEASE_EXPIRED about one site lease after its last renewal."""
    closed = wait_for(
        lambda: (lambda o: o if o["done"] else None)(admin.get(f"/operations/{op_id}")),
        120,
        f"operation {op_id} to be closed",
    )
    took = time.monotonic() - died_at
    print(f"[lease] operation closed {took:.1f} s after the site died (site lease {KILL_LEASE} s)")
    assert (closed["error"] or {}).get("code") == "LEASE_EXPIRED" and took <= int(KILL_LEASE) + 20, (
        f"{took:.0f} s after its site died, with a site lease of {KILL_LEASE} s, operation {op_id} was closed with "
        f"error={closed['error']} result={closed['result']}: its lease was not the site's"
    )
    return closed


@ON_SQLITE
@pytest.mark.timeout(600)
def test_kill_9_of_the_whole_site_loses_nothing(store, server, admin, repo, tmp_path, sites):
    clock = Clock("kill -9 site")
    site = Site.create(store, server, repo, tmp_path, "site-1", ORCHESTRATOR_SITE_LEASE_SECONDS=KILL_LEASE)
    register_as_admin(repo, site.env, admin)
    add_untriggered_type(admin)
    sites.append(site.start())
    job, op = start_slow_echo(admin, site, 20)
    clock.lap("run started")

    pgid = site.daemon.process.pid
    site.daemon.kill(signal.SIGKILL)  # daemon, code server, run worker, step process: the site died
    died_at = time.monotonic()
    wait_for(lambda: group_gone(pgid), 30, "every process of the site to die")
    clock.lap("site killed")
    # The lease runs out with nobody to renew it: the runtime closes the operation, the job is open again.
    wait_lease_expired(admin, op["id"], died_at)
    reopened = admin.get(f"/jobs/{job['id']}")
    assert (reopened["status"], reopened["attempts"]) == ("open", 1), reopened
    clock.lap("lease expired")

    site.start()  # the site comes back: same code, same Dagster instance (its dead run still says STARTED)
    ops = assert_nothing_lost(admin, job["id"], op, site)
    clock.lap("retried -> succeeded")
    old_run = wait_run_ended(site, op["metadata"]["dagster_run_id"], 120)  # the restarted site settles the dead run
    assert old_run.status in (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED), old_run.status
    assert run_of(site, ops[-1]["metadata"]["dagster_run_id"]).tags[OPERATION_TAG] == ops[-1]["id"]
    clock.lap("total")


@ON_SQLITE
@pytest.mark.timeout(600)
def test_kill_9_of_the_daemon_only_late_report_is_fenced(store, server, admin, repo, tmp_path, sites):
    """Only the daemon dies: its code server and run worker live on. The lease runs out, the job opens
    again, and only then does the orphaned run wake and report its result. The runtime must refuse
    that late report (fencing): the orphan's run fails, its operation keeps LEASE_EXPIRED and no
    result, and the job stays open for the retry. Without fencing the late report would succeed the
    job on a dead operation. No new daemon runs until the orphan has ended, so nothing can stop it first."""
    clock = Clock("kill -9 daemon")
    site = Site.create(store, server, repo, tmp_path, "site-1", ORCHESTRATOR_SITE_LEASE_SECONDS=KILL_LEASE)
    register_as_admin(repo, site.env, admin)
    add_untriggered_type(admin)
    sites.append(site.start())
    job, op = start_slow_echo(admin, site, 30)  # long enough for the lease to run out first
    run_id = op["metadata"]["dagster_run_id"]
    clock.lap("run started")

    site.daemon.kill(signal.SIGKILL, whole_group=False)
    wait_lease_expired(admin, op["id"], time.monotonic())
    assert run_of(site, run_id).status == dg.DagsterRunStatus.STARTED, "the orphan must still be running"
    clock.lap("lease expired")

    orphan = wait_run_ended(site, run_id, 120)  # it wakes, reports, and is refused
    clock.lap("orphan ended")
    assert orphan.status == dg.DagsterRunStatus.FAILURE, orphan.status
    dead = admin.get(f"/operations/{op['id']}")
    assert dead["result"] is None and dead["error"]["code"] == "LEASE_EXPIRED", dead
    reopened = admin.get(f"/jobs/{job['id']}")
    assert (reopened["status"], reopened["attempts"]) == ("open", 1), reopened

    site.start()  # a new daemon: the job runs again and succeeds once, on a new operation
    ops = assert_nothing_lost(admin, job["id"], op, site)
    assert [o["id"] for o in ops if o["result"] is not None] == [admin.get(f"/jobs/{job['id']}")["operation_id"]]
    clock.lap("total")


JOBS = 50


@ON_POSTGRES
@pytest.mark.timeout(1200)
def test_two_sites_share_fifty_jobs_without_running_any_twice(store, server, admin, repo, tmp_path, sites):
    clock = Clock("two sites")
    limits = {"ORCHESTRATOR_MAX_RUNS_PER_WORKFLOW": "4"}
    site_a = Site.create(store, server, repo, tmp_path, "site-a", **limits)
    site_b = Site.create(store, server, repo, tmp_path, "site-b", **limits)
    assert site_a.home != site_b.home
    register_as_admin(repo, site_a.env, admin)
    sites.extend([site_a.start(), site_b.start()])
    notes = [admin.create_object(f"note {i}".encode(), name=f"note-{i:02d}.txt", types=["note"]) for i in range(JOBS)]
    job_ids = {job_id_for(ECHO, [note["id"]]): note["name"] for note in notes}
    clock.lap(f"{JOBS} notes submitted")

    last_print = [0.0]

    def all_succeeded():
        jobs = {j["id"]: j for j in admin.iterate("/jobs", workflow_id=ECHO)}
        failed = [j for j in jobs.values() if j["status"] in ("failed", "cancelled")]
        assert not failed, logs(admin, failed[0]["id"], site_a, site_b)
        done = sum(jobs.get(job_id, {}).get("status") == "succeeded" for job_id in job_ids)
        if time.monotonic() - last_print[0] > 30:
            last_print[0] = time.monotonic()
            clock.lap(f"{done}/{JOBS} succeeded, {sum(j['status'] == 'claimed' for j in jobs.values())} claimed")
        return done == JOBS

    wait_for(
        all_succeeded,
        900,
        f"all {JOBS} jobs to succeed",
        every=3,
        on_timeout=lambda: (
            f"{[(j['id'], j['status'], j['attempts']) for j in admin.iterate('/jobs', workflow_id=ECHO)]}\n"
            + site_a.output()
            + site_b.output()
        ),
    )
    clock.lap(f"all {JOBS} succeeded")

    ops = list(admin.iterate("/operations"))
    by_job: dict[str, list[dict]] = {}
    for op in ops:
        by_job.setdefault(op["job_id"], []).append(op)
    assert set(by_job) == set(job_ids), "operations for jobs nobody submitted, or jobs never claimed"
    twice = {
        job_id: [(o["site_id"], (o["error"] or {}).get("code")) for o in job_ops]
        for job_id, job_ops in by_job.items()
        if len(job_ops) != 1
    }
    assert not twice, f"jobs claimed more than once: {twice}"
    for job_id, [op] in by_job.items():
        assert op["done"] and op["error"] is None and op["result"] == {"echo": [job_ids[job_id]]}, op
    per_site = {site: sum(op["site_id"] == site for op in ops) for site in ("site-a", "site-b")}
    print(f"[two sites] operations per site: {per_site}")
    assert all(per_site.values()), f"one site did all the work: {per_site}"

    # Each site's Dagster instance holds exactly the runs of its own operations, one run per operation.
    for site in (site_a, site_b):
        runs = wait_for(lambda site=site: ended_runs(site), 120, f"{site.id}'s runs to end", every=1)
        mine = {op["id"] for op in ops if op["site_id"] == site.id}
        assert sorted(r.tags[OPERATION_TAG] for r in runs) == sorted(mine), site.id
        assert all(r.tags[SITE_TAG] == site.id for r in runs)
        bad = [
            (r.run_id, r.tags[OPERATION_TAG], r.status.value) for r in runs if r.status != dg.DagsterRunStatus.SUCCESS
        ]
        assert not bad, (
            f"{site.id}: runs whose operation succeeded but which did not end SUCCESS: {bad}\n"
            f"reconcile notes: {reconcile_notes(site)}"
        )
    clock.lap("total")
