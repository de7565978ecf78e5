"""A site on Dagster's Celery executor (ORCHESTRATOR_EXECUTOR=celery) against this machine's RabbitMQ:
a real `dagster-daemon` site claims and launches an echo job, and each of the run's ops executes on a
Celery worker the test starts, `celery -A orchestrator.executors worker` as the README says. The worker
and the site share a queue no other worker listens on, so a stray worker on the broker cannot take
the test's tasks; the test deletes that queue, and only it, at the end."""

import os
import secrets
import signal
import socket
import subprocess
import time
from pathlib import Path

import dagster as dg
import pytest
from kombu import Connection

from orchestrator.executors import celery_config, executor_for, worker_app
from orchestrator.runtime.store.jobs import job_id_for
from orchestrator.settings import Settings
from orchestrator.workflows.common import PID_TAG
from tests.site.stack import BIN, register_as_admin, wait_for
from tests.site.test_e2e import ECHO, ON_SQLITE, Site, only_operation, reconcile_notes, wait_run_ended, wait_status

BROKER = os.environ.get("ORCHESTRATOR_TEST_CELERY_BROKER", "pyamqp://guest@127.0.0.1:5672//")
START_RABBITMQ = "rabbitmq-server -detached"
STEPS = {"load_input", "echo_names", "report_result"}  # the echo workflow of the README's guide


class CeleryWorker:
    """A Celery worker process (own process group) consuming only `queue`, with the site's code and env."""

    def __init__(self, repo: Path, env: dict, queue: str, log_path: Path):
        self.queue, self.log_path = queue, log_path
        self.node = f"{queue}@{socket.gethostname()}"
        self.log = open(log_path, "ab")
        # One pool process: every op of the run lands in the same child, whose parent is this worker.
        # No mingle or gossip: the worker needs nothing from other workers on a shared broker.
        argv = [str(BIN / "celery"), "-A", "orchestrator.executors", "worker", "-Q", queue, "-n", self.node]
        argv += ["--concurrency", "1", "--without-mingle", "--without-gossip", "--loglevel", "INFO"]
        self.process = subprocess.Popen(
            argv, cwd=repo, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def wait_ready(self, timeout: float = 60) -> None:
        def ready():
            assert self.process.poll() is None, f"the Celery worker exited\n{self.output()}"
            return f"{self.node} ready." in self.output()

        wait_for(ready, timeout, "the Celery worker to be ready", every=0.2, on_timeout=self.output)

    def in_worker(self, pid: int) -> bool:
        """Whether `pid` is a process of this worker (the worker, or a pool child in its group)."""
        try:
            return os.getpgid(pid) == self.process.pid
        except ProcessLookupError:
            return False

    def output(self) -> str:
        return "--- celery worker log (tail) ---\n" + self.log_path.read_text(errors="replace")[-6000:]

    def stop(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGTERM)  # warm shutdown: the worker and its pool
            self.process.wait(30)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        finally:
            self.log.close()


def broker_reachable() -> None:
    try:
        with Connection(BROKER, connect_timeout=5) as connection:
            connection.ensure_connection(max_retries=1)
    except Exception as exc:  # any failure to connect: say how to start the broker, not a traceback
        pytest.exit(
            f"RabbitMQ is not reachable at {BROKER} ({type(exc).__name__}).\n"
            f"Start the local one with:\n    {START_RABBITMQ}\nor point ORCHESTRATOR_TEST_CELERY_BROKER at one.",
            returncode=3,
        )


def delete_queue(queue: str) -> None:
    """The worker declared `queue` (durable) and its exchange of the same name: this test's own, removed."""
    with Connection(BROKER, connect_timeout=5) as connection:
        channel = connection.channel()
        channel.queue_delete(queue)
        channel.exchange_delete(queue)


@pytest.fixture
def celery_queue():
    broker_reachable()
    queue = f"orchestrator-test-{secrets.token_hex(6)}"
    yield queue
    delete_queue(queue)


def events_of(site: Site, run_id: str) -> dict[dg.DagsterEventType, list[dg.EventLogEntry]]:
    instance = site.instance()
    try:
        entries = [entry for entry in instance.all_logs(run_id) if entry.dagster_event]
    finally:
        instance.dispose()
    by_type = {}
    for entry in entries:
        by_type.setdefault(entry.dagster_event.event_type, []).append(entry)
    return by_type


def test_the_site_setting_chooses_the_executor_and_names_the_broker_by_its_variable():
    assert executor_for(Settings(executor="in_process")) is dg.in_process_executor
    assert executor_for(Settings(executor="multiprocess")) is dg.multiprocess_executor
    secret = "pyamqp://site:s3cret@rabbit.example.org:5672//"
    settings = Settings(executor="celery", celery_broker=secret, celery_backend="", celery_queue="site-1")
    assert executor_for(settings).name == "celery"
    config = celery_config(settings)
    assert config["broker"] == {"env": "ORCHESTRATOR_CELERY_BROKER"} and "backend" not in config
    assert "s3cret" not in repr(config)  # what the Dagster UI could show
    app = worker_app(settings)  # the worker's side: the same broker and queue, from the same settings
    assert (app.conf.broker_url, app.conf.result_backend, app.conf.task_default_queue) == (secret, "rpc://", "site-1")
    assert "execute_plan" in app.tasks


@ON_SQLITE
@pytest.mark.timeout(180)
def test_ops_run_on_a_celery_worker_and_the_job_succeeds_once(
    store, server, admin, repo, tmp_path, sites, celery_queue
):
    started = time.monotonic()
    site = Site.create(
        store,
        server,
        repo,
        tmp_path,
        "site-celery",
        ORCHESTRATOR_EXECUTOR="celery",
        ORCHESTRATOR_CELERY_BROKER=BROKER,
        ORCHESTRATOR_CELERY_QUEUE=celery_queue,
    )
    worker = CeleryWorker(repo, site.env, celery_queue, tmp_path / "celery-worker.log")
    try:
        register_as_admin(repo, site.env, admin)
        sites.append(site.start())
        worker.wait_ready()
        note = admin.create_object(b"ops on a celery worker", name="celery.txt", types=["note"])
        job_id = job_id_for(ECHO, [note["id"]])

        job = wait_status(admin, job_id, "succeeded", 120, site, worker)
        op = only_operation(admin, job_id, site)
        assert op["id"] == job["operation_id"] and op["site_id"] == "site-celery"
        assert op["done"] and op["error"] is None and op["result"] == {"echo": ["celery.txt"]}
        assert job["attempts"] == 0
        run_id = op["metadata"]["dagster_run_id"]
        run = wait_run_ended(site, run_id, 60)
        assert run.status == dg.DagsterRunStatus.SUCCESS, (run.status, reconcile_notes(site))

        # The run worker (it writes RUN_START) stayed in the site; every step started in the worker's pool.
        events = events_of(site, run_id)
        [started_run] = events[dg.DagsterEventType.RUN_START]
        run_start = started_run.dagster_event
        step_starts = [entry.dagster_event for entry in events[dg.DagsterEventType.STEP_START]]
        assert {e.step_key for e in step_starts} == STEPS
        assert not worker.in_worker(run_start.pid)
        outside = [(e.step_key, e.pid) for e in step_starts if not worker.in_worker(e.pid)]
        assert not outside, f"steps that did not run in the Celery worker: {outside}\n{worker.output()}"
        # dagster-celery's task says which worker took each step: ours, by its unique node name.
        handed = [
            e.step_key
            for e in (entry.dagster_event for entry in events[dg.DagsterEventType.ENGINE_EVENT])
            if e.event_specific_data.metadata.get("Celery worker") == dg.TextMetadataValue(worker.node)
        ]
        assert sorted(handed) == sorted(STEPS), (handed, worker.output())
        # The reconcile sensor watches the pid load_input tagged: the run worker's, alive all run long,
        # not the pool child's, so it never took the run for a crash (one operation, no release).
        assert run.tags[PID_TAG] == str(run_start.pid)
        [succeeded_run] = events[dg.DagsterEventType.RUN_SUCCESS]
        print(
            f"[celery] run of {len(STEPS)} ops on the worker: {succeeded_run.timestamp - started_run.timestamp:.1f} s"
        )
    finally:
        worker.stop()
    print(f"[celery] worker start -> job succeeded and checked: {time.monotonic() - started:.1f} s")
