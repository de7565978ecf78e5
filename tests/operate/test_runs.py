"""`orchestrator site jobs|kill|logs` against a real engine running real action processes in another
thread: a kill by a sub-string of the job id ends that action KILLED_BY_ADMIN while its dependent
fails and an independent action succeeds; its directory stays until `--cleanup`; every step is safe
to repeat; a log is followed while it is written; an ambiguous name is refused with the list."""

import signal
import subprocess

from orchestrator.pipeline import StatusCode
from orchestrator.pipeline.jobdirs import JobDirs, JobRecord
from tests.operate.helpers import TICKER, running_record, site_cli, start_run
from tests.pipeline.studies import action, make_study, project, run


def test_kill_by_a_substring_ends_one_action_killed_by_admin_and_keeps_its_directory(tmp_path):
    study = make_study(
        tmp_path,
        project(
            action("slow", "analysis/tick.py 300 output/slow.csv"),
            action("after_slow", "analysis/write.py output/after_slow.csv", needs=["slow"]),
            action("other", "analysis/tick.py 10 output/other.csv"),
        ),
        TICKER,
    )
    thread, box = start_run(tmp_path, study, concurrency=2)
    record = running_record(tmp_path, "slow")
    killed = site_cli(tmp_path, "kill", record.job_id[2:7])  # a sub-string is enough
    assert killed.returncode == 0, killed.stderr
    assert f"killed {record.job_id} (slow in ws)" in killed.stdout
    thread.join(60)
    results = box["outcome"].results
    assert results["slow"].status_code is StatusCode.KILLED_BY_ADMIN
    assert results["after_slow"].status_code is StatusCode.DEPENDENCY_FAILED
    assert results["other"].status_code is StatusCode.SUCCEEDED  # independent: it went on
    kept = JobDirs(tmp_path / "jobs").path(record.job_id)
    assert (kept / "job" / "analysis" / "tick.py").is_file() and (kept / "action.log").is_file()  # for debugging

    again = site_cli(tmp_path, "kill", record.job_id)
    assert again.returncode == 0 and "already ended: KILLED_BY_ADMIN" in again.stdout
    listed = site_cli(tmp_path, "jobs")
    assert record.job_id in listed.stdout and "KILLED_BY_ADMIN" in listed.stdout
    cleaned = site_cli(tmp_path, "kill", "--cleanup", record.job_id)
    assert cleaned.returncode == 0 and "job directory removed" in cleaned.stdout
    assert not kept.exists()
    twice = site_cli(tmp_path, "kill", "--cleanup", record.job_id)  # the manifest still names the run
    assert twice.returncode == 0 and "no job directory to remove" in twice.stdout


def test_an_ordinary_end_removes_the_directory_and_records_resources(tmp_path):
    study = make_study(
        tmp_path,
        project(action("hog", "analysis/hog.py output/hog.csv"), action("small", "analysis/tick.py 1 output/s.csv")),
        TICKER,
    )
    from orchestrator.pipeline import Workspace

    workspace = Workspace.open(tmp_path / "workspaces", "ws")
    outcome, _ = run(study, workspace=workspace, job_dirs=JobDirs(tmp_path / "jobs"))
    result = outcome.results["hog"]
    assert result.ok
    assert result.peak_memory_bytes > 64 * 2**20  # the 64 MiB it touched, and the interpreter
    assert result.cpu_seconds > 0.05
    # the action's own figure, not the site process's memory that a forked child starts with
    assert outcome.results["small"].peak_memory_bytes < 40 * 2**20 < result.peak_memory_bytes
    entry = workspace.read_manifest()["actions"]["hog"]
    assert entry["peak_memory_bytes"] == result.peak_memory_bytes and entry["cpu_seconds"] == result.cpu_seconds
    assert "resources: peak memory" in workspace.log_path("hog").read_text()
    assert list((tmp_path / "jobs").iterdir()) == []  # nothing kept


def test_logs_follow_a_running_action_to_its_end(tmp_path):
    study = make_study(tmp_path, project(action("ticker", "analysis/tick.py 20 output/t.csv")), TICKER)
    thread, _ = start_run(tmp_path, study)
    record = running_record(tmp_path, "ticker")
    followed = site_cli(tmp_path, "logs", record.job_id[:6], "-f")
    thread.join(60)
    assert followed.returncode == 0, followed.stderr
    lines = followed.stdout.splitlines()
    assert [line for line in lines if line.startswith("tick")] == [f"tick {i}" for i in range(20)]  # each once
    assert "--- orchestrator ---" in followed.stdout  # it read on in the workspace's copy at the end
    after = site_cli(tmp_path, "logs", record.job_id)  # finished: the workspace's log
    assert after.returncode == 0 and after.stdout == followed.stdout


def test_a_name_that_matches_several_runs_is_refused_with_the_list(tmp_path):
    dirs = JobDirs(tmp_path / "jobs")
    for job_id, name in (("abc123", "first"), ("abc456", "second")):
        dirs.start(JobRecord(job_id, name, "ws", state="finished", status_code="INTERNAL_ERROR"))
    refused = site_cli(tmp_path, "kill", "abc")
    assert refused.returncode == 2
    assert "matches 2 action runs" in refused.stderr and "abc123" in refused.stderr and "abc456" in refused.stderr
    unknown = site_cli(tmp_path, "logs", "zzz")
    assert unknown.returncode == 1 and "No action run at this site matches 'zzz'" in unknown.stderr


def test_a_run_whose_site_process_died_is_killed_with_its_leftover_processes(tmp_path):
    dirs = JobDirs(tmp_path / "jobs")
    dead_engine = subprocess.Popen(["true"])
    dead_engine.wait()
    record = JobRecord("lost01", "orphaned", "ws", engine_pid=dead_engine.pid)
    dirs.start(record)
    dirs.job_dir("lost01").mkdir()
    orphan = subprocess.Popen(["sleep", "300"], cwd=dirs.job_dir("lost01"), start_new_session=True)
    dirs.update("lost01", pid=orphan.pid)
    listed = site_cli(tmp_path, "jobs")
    assert "lost01" in listed.stdout and "lost" in listed.stdout
    killed = site_cli(tmp_path, "kill", "lost01")
    assert killed.returncode == 0 and "whose site process was gone" in killed.stdout
    assert orphan.wait(10) == -signal.SIGKILL
    assert dirs.read("lost01").status_code == "KILLED_BY_ADMIN"


def test_several_jobs_are_killed_at_once_and_a_name_that_matches_none_kills_nothing(tmp_path):
    study = make_study(
        tmp_path,
        project(
            action("one", "analysis/tick.py 300 output/one.csv"), action("two", "analysis/tick.py 300 output/two.csv")
        ),
        TICKER,
    )
    thread, box = start_run(tmp_path, study, concurrency=2)
    one, two = running_record(tmp_path, "one"), running_record(tmp_path, "two")
    refused = site_cli(tmp_path, "kill", one.job_id, "no-such-run")  # every name is resolved before any kill
    assert refused.returncode == 1 and "no-such-run" in refused.stderr
    assert not JobDirs(tmp_path / "jobs").read(one.job_id).finished
    killed = site_cli(tmp_path, "kill", one.job_id, two.job_id)
    assert killed.returncode == 0, killed.stderr
    thread.join(60)
    assert {name: r.status_code for name, r in box["outcome"].results.items()} == {
        "one": StatusCode.KILLED_BY_ADMIN,
        "two": StatusCode.KILLED_BY_ADMIN,
    }
