"""Database maintenance in the engine, with real action processes: when it begins, a running database
action is stopped and goes back to pending (WAITING_DB_MAINTENANCE, in the events and the workspace),
a database action that becomes ready is held, other actions go on; when it ends, the held ones run
and the request succeeds with every action run to success once."""

import sys
import threading

from orchestrator.pipeline import ImageMap, StatusCode, Workspace
from orchestrator.pipeline.jobdirs import JobDirs
from tests.operate.helpers import TICKER
from tests.pipeline.studies import action, make_study, project, run
from tests.utils.waiting import wait_until


def test_maintenance_stops_and_requeues_database_actions_while_others_go_on(tmp_path):
    study = make_study(
        tmp_path,
        project(
            action("extract", "analysis/tick.py 300 output/extract.csv", image="sqlrunner:latest"),
            action("describe", "analysis/tick.py 60 output/describe.csv"),
            action(
                "extract_more",
                "analysis/tick.py 2 output/extract_more.csv",
                image="sqlrunner:latest",
                needs=["describe"],
            ),
        ),
        TICKER,
    )
    workspace = Workspace.open(tmp_path / "workspaces", "ws")
    events, maintenance, box = [], threading.Event(), {}
    started = lambda name: sum(e.kind == "started" and e.action == name for e in events)  # noqa: E731
    held = lambda name: [e for e in events if e.kind == "held" and e.action == name]  # noqa: E731

    def go():
        box["outcome"], _ = run(
            study,
            workspace=workspace,
            job_dirs=JobDirs(tmp_path / "jobs"),
            image_map=ImageMap.from_mapping({"sqlrunner": [sys.executable], "python": [sys.executable]}),
            database_url="postgresql://reader@db/sample",
            continue_on_error=True,
            concurrency=2,
            on_event=events.append,
            hold_database=maintenance.is_set,
        )

    thread = threading.Thread(target=go)
    thread.start()
    wait_until(lambda: started("extract") and started("describe"), 20, "extract and describe to start")
    maintenance.set()
    # Noticed while every action still runs (describe takes 6 s): the engine polls, it does not wait for an end.
    wait_until(lambda: held("extract"), 4, "the running database action to be stopped")
    assert not [e for e in events if e.kind == "finished"]
    (stopped,) = held("extract")
    assert stopped.result.status_code is StatusCode.WAITING_DB_MAINTENANCE
    assert stopped.result.state.value == "pending"
    assert workspace.read_manifest()["actions"]["extract"]["status_code"] == "WAITING_DB_MAINTENANCE"
    wait_until(lambda: held("extract_more"), 30, "the next database action to be held once describe is done")
    assert box.get("outcome") is None  # the run waits for maintenance to end
    assert (started("extract"), started("extract_more")) == (1, 0)
    assert [e.result.status_code for e in events if e.kind == "finished"] == [StatusCode.SUCCEEDED]  # describe

    # The second extract run is short: shorten it by rewriting the script the next run copies in.
    (study / "analysis" / "tick.py").write_text((study / "analysis" / "tick.py").read_text().replace("0.1", "0.001"))
    maintenance.clear()
    thread.join(60)
    outcome = box["outcome"]
    assert {name: r.status_code for name, r in outcome.results.items()} == {
        "extract": StatusCode.SUCCEEDED,
        "describe": StatusCode.SUCCEEDED,
        "extract_more": StatusCode.SUCCEEDED,
    }
    assert (started("extract"), started("describe"), started("extract_more")) == (2, 1, 1)
    assert workspace.read_manifest()["actions"]["extract"]["status_code"] == "SUCCEEDED"
