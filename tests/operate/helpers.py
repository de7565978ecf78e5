"""What the site operator's tests share: scripts that take their time, the `orchestrator site` command
run as a real process with a site's directories, and an engine running a study in a thread."""

import os
import subprocess
import sys
import threading
from pathlib import Path

from orchestrator.pipeline.jobdirs import JobDirs, JobRecord
from tests.pipeline.studies import run
from tests.utils.waiting import wait_until

TICKER = {  # tick N FILE: print a line every 0.1 s, N times, then write FILE
    "tick": """
        import sys, time, pathlib
        for i in range(int(sys.argv[1])):
            print("tick", i, flush=True)
            time.sleep(0.1)
        pathlib.Path(sys.argv[2]).parent.mkdir(parents=True, exist_ok=True)
        pathlib.Path(sys.argv[2]).write_text("done\\n")
    """,
    "hog": """
        import sys, pathlib
        block = bytearray(64 * 2**20)  # 64 MiB, touched
        for i in range(0, len(block), 4096):
            block[i] = 1
        total = sum(i * i for i in range(2_000_000))  # some CPU
        pathlib.Path(sys.argv[1]).parent.mkdir(parents=True, exist_ok=True)
        pathlib.Path(sys.argv[1]).write_text(str(total))
    """,
}


def site_cli(tmp_path, *args, stdin=subprocess.DEVNULL, timeout=60, **environment):
    env = {
        **os.environ,
        "TMPDIR": str(tmp_path / "tmp"),  # where runs' scratch is (disk.RUN_SCRATCH)
        "ORCHESTRATOR_JOBS_DIR": str(tmp_path / "jobs"),
        "ORCHESTRATOR_WORKSPACES_DIR": str(tmp_path / "workspaces"),
        "ORCHESTRATOR_HOME": str(tmp_path / "home"),
        **environment,
    }
    (tmp_path / "tmp").mkdir(exist_ok=True)
    return subprocess.run(
        [str(Path(sys.executable).parent / "orchestrator"), "site", *args],
        env=env,
        cwd=tmp_path,
        stdin=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_run(tmp_path, study, **options):
    from orchestrator.pipeline import Workspace

    workspace = Workspace.open(tmp_path / "workspaces", "ws")
    box = {}

    def go():
        box["outcome"], _ = run(
            study, workspace=workspace, job_dirs=JobDirs(tmp_path / "jobs"), continue_on_error=True, **options
        )

    thread = threading.Thread(target=go)
    thread.start()
    return thread, box


def running_record(tmp_path, action_name: str) -> JobRecord:
    dirs = JobDirs(tmp_path / "jobs")
    found = {}

    def started():
        for record in dirs.records():
            if record.action == action_name and record.pid:
                found["record"] = record
                return True
        return False

    wait_until(started, timeout=20, what=f"{action_name} to start")
    return found["record"]
