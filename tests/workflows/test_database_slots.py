"""The site's database slots (ORCHESTRATOR_MAX_DB_WORKERS) on a real Dagster instance's concurrency pool:
two plans running at once never run more database actions than there are slots while their other actions
go on; a database action cancelled while it waits gives its place in the queue back; and processes asking
at once on SQLite and on PostgreSQL storage never hold one slot together."""

import fcntl
import multiprocessing
import sys
import threading
import time
from itertools import pairwise
from pathlib import Path

import dagster as dg
import pytest

from orchestrator.pipeline import ImageMap, StatusCode, Workspace
from orchestrator.pipeline.engine import CancelRequests
from orchestrator.workflows.database_slots import POOL, DagsterDatabaseSlots
from tests.operate.helpers import TICKER
from tests.pipeline.studies import action, make_study, project, run
from tests.site.test_dagster_postgres import dagster_db, documented_postgres_yaml, pg_env  # noqa: F401 (a fixture)
from tests.utils.waiting import wait_until

DATABASE_IMAGES = ImageMap.from_mapping({"sqlrunner": [sys.executable], "python": [sys.executable]})


@pytest.fixture(autouse=True)
def ask_often(monkeypatch):
    monkeypatch.setattr(DagsterDatabaseSlots, "ASK_EVERY_SECONDS", 0.05)


def _study(root: Path, ticks: int = 5) -> Path:
    return make_study(
        root,
        project(
            action("extract", f"analysis/tick.py {ticks} output/extract.csv", image="sqlrunner:latest"),
            action("extract_more", f"analysis/tick.py {ticks} output/extract_more.csv", image="sqlrunner:latest"),
            action("describe", f"analysis/tick.py {ticks} output/describe.csv"),
        ),
        TICKER,
    )


def _run_in_thread(study: Path, slots: DagsterDatabaseSlots, events: list, **options) -> dict:
    box: dict = {}

    def go():
        box["outcome"], _ = run(
            study,
            workspace=Workspace.open(study.parent / "workspaces", "ws"),
            image_map=DATABASE_IMAGES,
            database_url="postgresql://reader@db/sample",
            on_event=events.append,
            database_slots=slots,
            **{"continue_on_error": True, "concurrency": 3, **options},
        )

    box["thread"] = threading.Thread(target=go)
    box["thread"].start()
    return box


def _pool_is_empty(instance: dg.DagsterInstance) -> bool:
    info = instance.event_log_storage.get_concurrency_info(POOL)
    return not info.claimed_slots and not info.pending_steps


def test_two_plans_share_one_slot_and_their_other_actions_go_on(instance, tmp_path):
    events_a, events_b = [], []
    runs = [
        _run_in_thread(_study(tmp_path / "a"), DagsterDatabaseSlots(instance, "run-a", "execute_actions", 1), events_a),
        _run_in_thread(_study(tmp_path / "b"), DagsterDatabaseSlots(instance, "run-b", "execute_actions", 1), events_b),
    ]
    for box in runs:
        box["thread"].join(120)
    results = [result for box in runs for result in box["outcome"].results.values()]
    assert all(result.status_code is StatusCode.SUCCEEDED for result in results), results

    database = sorted(
        (r.started_at, r.finished_at, r.action) for r in results if r.action.startswith("extract")
    )  # four database actions, one at a time
    assert len(database) == 4
    for (_, finished, first), (started, _, second) in pairwise(database):
        assert started >= finished, f"{second} started while {first} still held the only slot"
    describes = [(r.started_at, r.finished_at) for r in results if r.action == "describe"]
    assert all(start < database[-1][0] for start, _ in describes)  # not queued behind the database actions

    held = [e for e in events_a + events_b if e.kind == "held"]
    assert held and all(e.result.status_code is StatusCode.WAITING_ON_DB_WORKERS for e in held)
    assert {e.action for e in held} <= {"extract", "extract_more"}
    assert instance.event_log_storage.get_concurrency_info(POOL).slot_count == 1
    assert _pool_is_empty(instance)


def test_a_database_action_cancelled_while_it_waits_gives_its_place_back(instance, tmp_path):
    holder = make_study(
        tmp_path / "holder",
        project(action("extract", "analysis/tick.py 600 output/extract.csv", image="sqlrunner:latest")),
        TICKER,
    )
    stop_holder = threading.Event()
    holder_run = _run_in_thread(
        holder, DagsterDatabaseSlots(instance, "run-holder", "execute_actions", 1), [], stop=stop_holder
    )
    wait_until(lambda: instance.event_log_storage.get_concurrency_info(POOL).claimed_slots, 30, "the slot to be held")

    cancel, events = CancelRequests(), []
    waiter = _run_in_thread(
        _study(tmp_path / "waiter"),
        DagsterDatabaseSlots(instance, "run-waiter", "execute_actions", 1),
        events,
        cancel=cancel,
    )
    wait_until(
        lambda: {e.action for e in events if e.kind == "held"} == {"extract", "extract_more"}, 30, "both to wait"
    )
    pending = instance.event_log_storage.get_concurrency_info(POOL).pending_steps
    assert {step.run_id for step in pending} == {"run-holder", "run-waiter"}

    cancel.cancel("extract", "extract_more")
    waiter["thread"].join(60)
    codes = {name: r.status_code for name, r in waiter["outcome"].results.items()}
    assert codes == {
        "extract": StatusCode.CANCELLED_BY_USER,
        "extract_more": StatusCode.CANCELLED_BY_USER,
        "describe": StatusCode.SUCCEEDED,
    }
    info = instance.event_log_storage.get_concurrency_info(POOL)
    assert [step.run_id for step in info.pending_steps] == ["run-holder"]  # the waiter's places are gone
    assert [slot.run_id for slot in info.claimed_slots] == ["run-holder"]

    stop_holder.set()
    holder_run["thread"].join(60)
    assert holder_run["outcome"].results["extract"].status_code is StatusCode.CANCELLED_BY_USER
    assert _pool_is_empty(instance)  # a stopped run gives back what it held


def test_an_action_that_cannot_start_for_its_runs_own_workers_leaves_the_queue(instance, tmp_path):
    """Run W (one worker) queues its database action, then starts a long ordinary action on its only worker:
    the database action leaves the queue, so the slot the holder frees goes to a newcomer, not kept idle for W."""
    holder = DagsterDatabaseSlots(instance, "run-holder", "execute_actions", 1)
    assert holder.take("extract")
    study = make_study(
        tmp_path / "w",
        project(
            action("extract", "analysis/tick.py 1 output/extract.csv", image="sqlrunner:latest"),
            action("describe", "analysis/tick.py 40 output/describe.csv"),
        ),
        TICKER,
    )
    events = []
    waiter = _run_in_thread(study, DagsterDatabaseSlots(instance, "run-w", "execute_actions", 1), events, concurrency=1)
    wait_until(lambda: any(e.kind == "started" and e.action == "describe" for e in events), 30, "describe to start")
    wait_until(lambda: not instance.event_log_storage.get_concurrency_info(POOL).pending_steps[1:], 10, "W to leave")
    holder.give_back("extract")
    newcomer = DagsterDatabaseSlots(instance, "run-new", "execute_actions", 1)
    assert newcomer.take("extract")  # while describe still runs, W's extract asks for nothing
    assert not any(e.kind == "finished" and e.action == "describe" for e in events)
    newcomer.give_back("extract")
    waiter["thread"].join(60)
    assert all(r.status_code is StatusCode.SUCCEEDED for r in waiter["outcome"].results.values())
    assert _pool_is_empty(instance)


def test_a_slot_freed_without_handing_it_on_goes_to_the_next_that_asks(instance):
    """Dagster's own race: a waiter that found no free slot queues itself just after the holder freed it, so
    the free assigned nobody. The slot must not stay idle while the waiter asks."""
    holder = DagsterDatabaseSlots(instance, "run-holder", "execute_actions", 1)
    waiter = DagsterDatabaseSlots(instance, "run-waiter", "execute_actions", 1)
    assert holder.take("extract")
    storage = instance.event_log_storage
    storage.free_concurrency_slot_for_step("run-holder", "execute_actions[extract]")  # nobody queued to hand on to
    storage.add_pending_step(POOL, "run-waiter", "execute_actions[extract]", should_assign=False)  # the late queueing
    info = storage.get_concurrency_info(POOL)
    assert not info.claimed_slots and [step.assigned_timestamp for step in info.pending_steps] == [None]
    assert waiter.take("extract")
    assert [slot.run_id for slot in storage.get_concurrency_info(POOL).claimed_slots] == ["run-waiter"]


def test_an_unreachable_storage_or_a_busy_lock_means_wait_not_fail(instance, tmp_path, monkeypatch, caplog):
    slots = DagsterDatabaseSlots(instance, "run-a", "execute_actions", 1)
    storage = instance.event_log_storage

    def unreachable(*args, **kwargs):
        raise ConnectionError("the storage is down")

    monkeypatch.setattr(storage, "claim_concurrency_slot", unreachable)
    monkeypatch.setattr(storage, "free_concurrency_slot_for_step", unreachable)
    assert not slots.take("extract")
    slots.give_back("extract")  # said, not raised
    assert "the storage is down" in caplog.text
    monkeypatch.undo()

    with open(Path(instance.root_directory) / ".database-slots.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another run in the middle of a claim
        began = time.monotonic()
        assert not slots.take("extract")
        assert time.monotonic() - began < 1  # did not wait for it
        fcntl.flock(lock, fcntl.LOCK_UN)
    slots.asked_at.clear()
    assert slots.take("extract")

    # In a run: the ordinary action goes on while the storage is down, the database action waits, then runs.
    slots.give_back("extract")
    monkeypatch.setattr(storage, "claim_concurrency_slot", unreachable)
    events = []
    run = _run_in_thread(_study(tmp_path / "a"), DagsterDatabaseSlots(instance, "run-b", "execute_actions", 1), events)
    wait_until(lambda: any(e.kind == "finished" and e.action == "describe" for e in events), 30, "describe to finish")
    assert not any(e.kind == "started" and e.action.startswith("extract") for e in events)
    monkeypatch.undo()
    run["thread"].join(60)
    assert all(r.status_code is StatusCode.SUCCEEDED for r in run["outcome"].results.values())
    assert _pool_is_empty(instance)


def _hold_in_turn(home: str, run_id: str, times: int, log: str) -> None:
    """In its own process: take the only slot `times` times, each for a moment, writing when it held it."""
    instance = dg.DagsterInstance.from_config(home)
    slots = DagsterDatabaseSlots(instance, run_id, "execute_actions", 1)
    slots.ASK_EVERY_SECONDS = 0
    for turn in range(times):
        while not slots.take(f"action{turn}"):
            time.sleep(0.005)
        started = time.time()
        time.sleep(0.01)
        with open(log, "a") as out:
            out.write(f"{started} {time.time()} {run_id}\n")
        slots.give_back(f"action{turn}")


def _processes_take_turns(home: Path, processes: int = 4, times: int = 12) -> None:
    DagsterDatabaseSlots(dg.DagsterInstance.from_config(str(home)), "setup", "execute_actions", 1)  # the pool's 1 slot
    log = home / "held.log"
    spawn = multiprocessing.get_context("spawn")
    workers = [
        spawn.Process(target=_hold_in_turn, args=(str(home), f"run-{n}", times, str(log))) for n in range(processes)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(180)
    for worker in workers:
        if worker.is_alive():  # stuck: fail, and leave no process behind
            worker.kill()
    assert [worker.exitcode for worker in workers] == [0] * processes
    held = sorted(
        (float(start), float(end), run_id) for start, end, run_id in map(str.split, log.read_text().splitlines())
    )
    assert len(held) == processes * times
    for (_, finished, first), (started, _, second) in pairwise(held):
        assert started >= finished, f"{first} and {second} held the only slot at once"


def test_processes_asking_at_once_on_sqlite_storage_never_share_a_slot(tmp_path):
    home = tmp_path / "dagster"
    home.mkdir()
    _processes_take_turns(home)


def test_processes_asking_at_once_on_postgres_storage_never_share_a_slot(tmp_path, dagster_db, monkeypatch):  # noqa: F811
    for name, value in pg_env(dagster_db).items():
        monkeypatch.setenv(name, value)
    home = tmp_path / "dagster"
    home.mkdir()
    (home / "dagster.yaml").write_text(documented_postgres_yaml())
    _processes_take_turns(home)
