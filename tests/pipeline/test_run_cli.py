"""`orchestrator run` as a user meets it: exit codes, problems, progress lines and failure output."""

import subprocess
import sys

from click.testing import CliRunner

from orchestrator.pipeline.cli import parse_size, run_command
from tests.pipeline.studies import action, make_study, project


def invoke(*args):
    return CliRunner().invoke(run_command, [str(arg) for arg in args])


def test_an_invalid_project_prints_its_problems_like_check_and_exits_1(tmp_path):
    study = make_study(tmp_path, project(action("a", "analysis/write.py x.csv", needs=["missing"])))
    result = invoke("a", "--project-dir", study)
    assert result.exit_code == 1
    assert "action 'a'" in result.output and "problem(s) found" in result.output


def test_an_unknown_action_is_named_and_exits_1(tmp_path):
    study = make_study(tmp_path, project(action("a", "analysis/write.py output/a.csv")))
    result = invoke("nope", "--project-dir", study)
    assert result.exit_code == 1
    assert "UNKNOWN_ACTIONS: unknown action(s): nope; valid names are run_all, a" in result.output


def test_an_unusable_workspace_is_a_one_line_error(tmp_path):
    study = make_study(tmp_path, project(action("a", "analysis/write.py output/a.csv")))
    (tmp_path / "a-file").write_text("not a directory")
    cannot_create = invoke("a", "--project-dir", study, "--workspace-dir", tmp_path / "a-file" / "ws")
    assert cannot_create.exit_code == 1 and "Error: cannot use the workspace" in cannot_create.output
    assert "Not a directory" in cannot_create.output
    (tmp_path / "ws" / "metadata").mkdir(parents=True)
    (tmp_path / "ws" / "metadata" / "manifest.json").write_text("{ not json")
    damaged = invoke("a", "--project-dir", study, "--workspace-dir", tmp_path / "ws")
    assert damaged.exit_code == 1 and "manifest.json is not valid JSON" in damaged.output, damaged.output
    assert "restore it, or remove the workspace" in damaged.output and damaged.exception.__class__ is SystemExit


def test_no_actions_is_a_usage_error(tmp_path):
    result = invoke("--project-dir", tmp_path)
    assert result.exit_code == 2 and "run_all" in result.output


def test_a_failure_shows_the_end_of_its_log_and_exits_1(tmp_path):
    study = make_study(
        tmp_path,
        project(
            action("broken", "analysis/fail.py"),
            action("after", "analysis/write.py output/after.csv", needs=["broken"]),
        ),
    )
    result = invoke("run_all", "--project-dir", study, "--workspace-dir", tmp_path / "ws")
    assert result.exit_code == 1
    output = result.output
    assert "failed    broken  NONZERO_EXIT" in output
    assert "failed    after  DEPENDENCY_FAILED" in output
    assert "last 20 lines of its output:" in output
    assert "     | something went wrong" in output and "     | line 29" in output
    assert "     | line 9\n" not in output  # only the last 20 lines
    assert "2 of 2 action(s) did not succeed" in output
    assert (tmp_path / "ws/metadata/broken.log").exists()


def test_success_exits_0_and_lists_outputs_by_level(tmp_path):
    study = make_study(
        tmp_path,
        project(
            action("a", "analysis/write.py output/a.csv", {"highly_sensitive": {"t": "output/a.csv"}}),
            action("b", "analysis/write.py output/b.csv"),
        ),
    )
    result = invoke("run_all", "--project-dir", study, "--concurrency", 2, "--timeout", 60, "--memory-limit", "2G")
    assert result.exit_code == 0, result.output
    assert "highly_sensitive:\n    output/a.csv" in result.output
    assert "moderately_sensitive:\n    output/b.csv" in result.output


def test_a_bad_image_map_is_a_clear_error(tmp_path):
    study = make_study(tmp_path, project(action("a", "analysis/write.py output/a.csv")))
    result = CliRunner().invoke(
        run_command, ["a", "--project-dir", str(study)], env={"ORCHESTRATOR_IMAGE_MAP": "{not json"}
    )
    assert result.exit_code == 1 and "ORCHESTRATOR_IMAGE_MAP is not valid JSON" in result.output


def test_it_runs_as_a_module_without_a_tty(tmp_path):
    study = make_study(tmp_path, project(action("a", "analysis/write.py output/a.csv")))
    proc = subprocess.run(
        [sys.executable, "-m", "orchestrator.pipeline.cli", "a", "--project-dir", str(study)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "succeeded a  SUCCEEDED" in proc.stdout and "\x1b[" not in proc.stdout


def test_memory_sizes_parse():
    assert parse_size("512M") == 512 * 2**20
    assert parse_size("2G") == 2 * 2**30 == parse_size("2GiB")
    assert parse_size("1000") == 1000


def test_ctrl_c_kills_running_actions_and_reports_them_cancelled(tmp_path):
    import signal
    import time

    study = make_study(tmp_path, project(action("long", "analysis/sleep.py 120 output/long.csv")))
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchestrator.pipeline.cli", "long", "--project-dir", str(study)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert "Workspace:" in proc.stdout.readline()
        assert "started   long" in proc.stdout.readline()
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        output = proc.communicate(timeout=60)[0]
    finally:
        proc.kill()
    assert proc.returncode == 1, output
    assert "long  CANCELLED_BY_USER" in output and "Traceback" not in output
