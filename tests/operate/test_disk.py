"""`orchestrator site disk`: usage by workspace, job directories, runs' scratch and blobs; `--cleanup
--dry-run` lists what would go and removes nothing; `--cleanup` removes what nothing uses (a lost
run, a directory without a record, old scratch and temporary files) and never a running action's
directory or one kept for debugging; running it again finds nothing."""

import os
import subprocess
import time

from orchestrator.pipeline import Workspace
from orchestrator.pipeline.jobdirs import JobDirs, JobRecord
from tests.operate.helpers import TICKER, running_record, site_cli, start_run
from tests.pipeline.studies import action, make_study, project

DAY_AGO = time.time() - 2 * 86400


def make_leftovers(tmp_path) -> dict:
    """One of each thing clean-up removes, and one it keeps for debugging."""
    dirs = JobDirs(tmp_path / "jobs")
    gone = subprocess.Popen(["true"])
    gone.wait()
    dirs.start(JobRecord("lost01", "crashed", "ws", engine_pid=gone.pid))  # its site process was killed
    (dirs.job_dir("lost01") / "output").mkdir(parents=True)
    (dirs.job_dir("lost01") / "output" / "half.csv").write_bytes(b"x" * 5000)
    dirs.start(JobRecord("kept01", "broken", "ws", state="finished", status_code="INTERNAL_ERROR"))
    unrecorded = dirs.root / "norecord"
    unrecorded.mkdir()
    os.utime(unrecorded, (DAY_AGO, DAY_AGO))
    scratch_old, scratch_new = (
        tmp_path / "tmp" / "orchestrator-runs" / "old-run",
        tmp_path / "tmp" / "orchestrator-runs" / "new-run",
    )
    for path in (scratch_old, scratch_new):
        path.mkdir(parents=True)
        (path / "study.tar.gz").write_bytes(b"y" * 1000)
    os.utime(scratch_old, (DAY_AGO, DAY_AGO))
    workspace = Workspace.open(tmp_path / "workspaces", "ws")
    temporary = workspace.metadata_dir / ".manifest.json.tmp"
    temporary.parent.mkdir(parents=True, exist_ok=True)
    temporary.write_text("{")
    os.utime(temporary, (DAY_AGO, DAY_AGO))
    return {
        "removed": [dirs.path("lost01"), unrecorded, scratch_old, temporary],
        "kept": [dirs.path("kept01"), scratch_new],
    }


def test_disk_reports_usage_and_cleans_up_only_what_nothing_uses(tmp_path):
    study = make_study(tmp_path, project(action("slow", "analysis/tick.py 300 output/slow.csv")), TICKER)
    thread, _ = start_run(tmp_path, study)
    running = running_record(tmp_path, "slow")
    leftovers = make_leftovers(tmp_path)
    try:
        report = site_cli(tmp_path, "disk")
        assert report.returncode == 0, report.stderr
        for what in ("workspace ws", "job directories", "runs' scratch"):
            assert what in report.stdout
        assert "1 job directory kept for debugging or retry" in report.stdout and "kept01" in report.stdout

        dry = site_cli(tmp_path, "disk", "--cleanup", "--dry-run")
        assert dry.returncode == 0, dry.stderr
        for path in leftovers["removed"]:
            assert f"would remove {path}" in dry.stdout
            assert path.exists()
        assert "4 item(s)" in dry.stdout and "nothing removed (--dry-run)" in dry.stdout

        cleaned = site_cli(tmp_path, "disk", "--cleanup")
        assert cleaned.returncode == 0, cleaned.stderr
        assert "Freed" in cleaned.stdout
        for path in leftovers["removed"]:
            assert not path.exists(), path
        for path in leftovers["kept"]:
            assert path.exists(), path
        assert JobDirs(tmp_path / "jobs").job_dir(running.job_id).is_dir()  # never a running action's

        again = site_cli(tmp_path, "disk", "--cleanup")
        assert again.returncode == 0 and "Nothing to clean up." in again.stdout
    finally:
        site_cli(tmp_path, "kill", running.job_id)
        thread.join(60)
