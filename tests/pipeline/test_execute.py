"""One action at a time through real subprocesses: how each way of failing is named, and that an
action cannot place files in the workspace except through its declared, matched outputs."""

import json
import os
import tempfile

from orchestrator.pipeline import ActionHandle, ImageMap, Limits, State, StatusCode
from orchestrator.pipeline.execute import STREAM_READ_BYTES
from orchestrator.settings import Settings
from tests.pipeline.studies import action, make_study, project, run


def test_a_failing_action_is_nonzero_exit_and_its_dependents_dependency_failed(tmp_path):
    study = make_study(
        tmp_path,
        project(
            action("broken", "analysis/fail.py"),
            action("after", "analysis/write.py output/after.csv", needs=["broken"]),
            action("last", "analysis/write.py output/last.csv", needs=["after"]),
        ),
    )
    outcome, workspace = run(study)
    broken, after, last = (outcome.results[n] for n in ("broken", "after", "last"))
    assert (broken.status_code, broken.state, broken.exit_code) == (StatusCode.NONZERO_EXIT, State.FAILED, 3)
    assert "exit code 3" in broken.message
    assert broken.log_tail[-1] == "something went wrong" and len(broken.log_tail) == 20
    assert after.status_code is StatusCode.DEPENDENCY_FAILED and "broken" in after.message
    assert last.status_code is StatusCode.DEPENDENCY_FAILED and "after" in last.message
    log = workspace.log_path("broken").read_text()
    assert "line 0\n" in log and "status: NONZERO_EXIT" in log
    manifest = workspace.read_manifest()
    assert manifest["actions"]["broken"]["status_code"] == "NONZERO_EXIT"
    assert manifest["actions"]["last"]["status_code"] == "DEPENDENCY_FAILED"
    assert manifest["files"] == {}


def test_unmatched_patterns_fail_with_a_hint_naming_near_misses(tmp_path):
    study = make_study(
        tmp_path,
        project(
            action(
                "typo",
                "analysis/write.py output/summry.csv",
                {"moderately_sensitive": {"summary": "output/summary.csv"}},
            )
        ),
    )
    result = run(study)[0].results["typo"]
    assert result.status_code is StatusCode.UNMATCHED_PATTERNS
    assert "output/summary.csv (did you mean output/summry.csv?)" in result.message


def test_an_action_over_its_timeout_is_killed_as_job_timeout(tmp_path):
    study = make_study(tmp_path, project(action("slow", "analysis/sleep.py 60 output/slow.csv")))
    result = run(study, limits=Limits(timeout=1))[0].results["slow"]
    assert result.status_code is StatusCode.JOB_TIMEOUT
    assert "timed out after 1s" in result.message
    assert result.duration < 30


def test_an_action_allocating_beyond_its_memory_limit_is_out_of_memory(tmp_path):
    study = make_study(
        tmp_path,
        project(action("greedy", "analysis/greedy.py")),
        scripts={
            "greedy": "block = bytearray(8 * 1024**3)\nprint(len(block))\n",
        },
    )
    result = run(study, limits=Limits(memory=512 * 1024**2))[0].results["greedy"]
    assert result.status_code is StatusCode.OUT_OF_MEMORY
    assert result.message == "Ran out of memory (limit for this job was 0.50GB)"
    assert any("MemoryError" in line for line in result.log_tail)


def test_an_unmapped_image_is_a_clear_internal_error(tmp_path):
    study = make_study(
        tmp_path,
        project(
            action("stata", "analysis/model.do", image="stata-mp:latest"),
            action("after", "analysis/write.py output/after.csv", needs=["stata"]),
        ),
    )
    outcome, workspace = run(study)
    result = outcome.results["stata"]
    assert result.status_code is StatusCode.INTERNAL_ERROR
    assert result.message.startswith("image 'stata-mp' is not mapped to a local interpreter; configure")
    assert "ORCHESTRATOR_IMAGE_MAP" in result.message
    assert outcome.results["after"].status_code is StatusCode.DEPENDENCY_FAILED
    assert "not mapped" in workspace.log_path("stata").read_text()


def test_the_image_map_is_configured_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("ORCHESTRATOR_IMAGE_MAP", json.dumps({"stata-mp": "python3 -S"}))
    image_map = ImageMap.from_json(Settings().image_map)
    assert image_map.prefix_for("stata-mp", "latest") == ("python3", "-S")
    assert image_map.prefix_for("python", "v2") == ImageMap().prefix_for("python", "v2")
    study = make_study(
        tmp_path, project(action("stata", "analysis/write.py output/stata.csv", image="stata-mp:latest"))
    )
    assert run(study, image_map=image_map)[0].ok


ESCAPES = """
import os, pathlib, sys
workspace, outside = sys.argv[1], sys.argv[2]
pathlib.Path("output").mkdir()
# ../ out of the job directory
pathlib.Path("../escaped.csv").write_text("x")
pathlib.Path("../../escaped.csv").write_text("x") if os.access("../..", os.W_OK) else None
# absolute paths: straight into the workspace and somewhere else
pathlib.Path(workspace, "output").mkdir(parents=True, exist_ok=True)
pathlib.Path(workspace, "output", "planted.csv").write_text("planted")
pathlib.Path(outside, "secret.csv").write_text("secret")
# a symlinked file and a symlinked directory, both matched by output/*.csv
os.symlink(os.path.join(outside, "secret.csv"), "output/link.csv")
os.symlink(outside, "linked_dir")
pathlib.Path("output/real.csv").write_text("real")
"""


def test_an_action_writing_outside_its_directory_cannot_place_files_in_the_workspace(tmp_path, monkeypatch):
    outside, scratch = tmp_path / "outside", tmp_path / "scratch"
    outside.mkdir()
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # job directories are made here
    study = make_study(
        tmp_path,
        project(
            action(
                "escape",
                f"analysis/escape.py {tmp_path / 'workspace'} {outside}",
                {"moderately_sensitive": {"tables": "output/*.csv", "linked": "linked_dir/*.csv"}},
            ),
            action("reader", "analysis/list_inputs.py", needs=["escape"]),
        ),
        scripts={
            "escape": ESCAPES,
            "list_inputs": "import os, pathlib\npathlib.Path('output').mkdir(exist_ok=True)\n"
            "pathlib.Path('output/reader.csv').write_text(','.join(sorted(os.listdir('output'))))\n",
        },
    )
    outcome, workspace = run(study)
    escape = outcome.results["escape"]
    # linked_dir/*.csv only matched through a symlink: refused, so that pattern is unmatched
    assert escape.status_code is StatusCode.UNMATCHED_PATTERNS
    assert "Refused linked_dir/secret.csv: linked_dir is a symbolic link" in escape.message
    assert "Refused output/link.csv: it is a symbolic link" in escape.message
    assert workspace.read_manifest()["files"] == {}
    assert workspace.stray_files() == ["output/planted.csv"]
    assert not (tmp_path / "workspace" / "level4").exists()
    # Without a sandbox an action can write beside its job directory (the ../ writes landed in the scratch
    # area, and ../../ in tmp_path), but nothing it writes there becomes an output or reaches the study.
    assert (scratch / "escaped.csv").exists() and not (study / "escaped.csv").exists()
    assert not any("escaped" in path for path in workspace.read_manifest()["files"])

    # with the symlinked pattern gone, only the real file is collected; the planted one is never an
    # output, never released and never copied to a dependent
    text = (study / "project.yaml").read_text().replace(", linked: linked_dir/*.csv", "")
    text = text.replace("        linked: linked_dir/*.csv\n", "")
    (study / "project.yaml").write_text(text)
    outcome, workspace = run(study)
    assert outcome.ok, [result.message for result in outcome.failed]
    assert "refused output/link.csv" in outcome.results["escape"].message
    files = workspace.read_manifest()["files"]
    assert sorted(files) == ["output/reader.csv", "output/real.csv"]
    assert (workspace.path / "output/reader.csv").read_text() == "real.csv"
    assert sorted(os.listdir(workspace.level4_dir / "output")) == ["reader.csv", "real.csv"]


def test_an_action_does_not_inherit_the_sites_secrets(tmp_path, monkeypatch):
    monkeypatch.setenv("ORCHESTRATOR_CLIENT_SECRET", "site-secret")
    monkeypatch.setenv("ORCHESTRATOR_DATABASE_URL", "postgresql://user:password@db/x")
    study = make_study(
        tmp_path,
        project(action("env", "analysis/dump_env.py", {"highly_sensitive": {"env": "output/env.json"}})),
        scripts={
            "dump_env": "import json, os, pathlib\npathlib.Path('output').mkdir()\n"
            "pathlib.Path('output/env.json').write_text(json.dumps(dict(os.environ)))\n"
        },
    )
    outcome, _ = run(study)
    assert outcome.results["env"].status_code is StatusCode.SUCCEEDED
    seen = json.loads((tmp_path / "workspace" / "output" / "env.json").read_text())
    assert "ORCHESTRATOR_CLIENT_SECRET" not in seen and "ORCHESTRATOR_DATABASE_URL" not in seen
    assert seen["ORCHESTRATOR_ACTION"] == "env" and seen["PATH"] == os.environ["PATH"]


def test_a_followed_actions_endless_line_is_handed_out_in_pieces_not_kept_whole(tmp_path):
    log = tmp_path / "action.log"
    log.write_bytes(b"done\n" + b"#" * (STREAM_READ_BYTES + 10))  # a progress bar that never ends its line
    handle = ActionHandle(follow_output=True)
    handle.follow(log)
    assert handle.new_output() == ["done"]  # one read's worth at a time
    assert handle.new_output() == ["#" * (STREAM_READ_BYTES + 10)]  # past a read's size: handed out, not held
    with open(log, "ab") as more:
        more.write(b"#\nlast")
    handle.stop_following()
    log.unlink()  # as run_action removes the action's scratch
    assert handle.new_output() == ["#", "last"]
