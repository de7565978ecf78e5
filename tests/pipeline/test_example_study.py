"""examples/study end to end through `orchestrator run run_all`: outputs, manifest, logs, Level 4."""

import csv
import hashlib
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator.pipeline.cli import run_command

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "study"


@pytest.fixture(scope="module")
def study_run(tmp_path_factory):
    study = tmp_path_factory.mktemp("example") / "study"
    shutil.copytree(EXAMPLE, study, ignore=shutil.ignore_patterns("workspace", "__pycache__"))
    result = CliRunner().invoke(run_command, ["run_all", "--project-dir", str(study)])
    return study, study / "workspace", result


def test_it_succeeds_and_says_so(study_run):
    _, _, result = study_run
    assert result.exit_code == 0, result.output
    assert "all 4 action(s) succeeded" in result.output
    for name in ("generate_dataset", "summarise", "chart", "export_sample"):
        assert f"started   {name}" in result.output


def test_outputs_land_at_their_declared_paths(study_run):
    _, workspace, _ = study_run
    with open(workspace / "output/dataset.csv") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 2000 and "patient_id" in rows[0]
    with open(workspace / "output/summary_by_age.csv") as file:
        header = next(csv.reader(file))
    assert header == ["age_band", "patients", "with_condition"]
    svg = (workspace / "output/age_chart.svg").read_text()
    assert svg.startswith("<svg") and svg.count("<rect") == 5


def test_the_manifest_records_every_file_with_its_sha256(study_run):
    _, workspace, _ = study_run
    manifest = json.loads((workspace / "metadata/manifest.json").read_text())
    assert sorted(manifest["files"]) == [
        "output/age_chart.svg",
        "output/dataset.csv",
        "output/sample_rows.csv",
        "output/summary_by_age.csv",
        "output/summary_by_region.csv",
    ]
    for path, entry in manifest["files"].items():
        content = (workspace / path).read_bytes()
        assert entry["sha256"] == hashlib.sha256(content).hexdigest()
        assert entry["size"] == len(content)
        assert entry["job_id"] == manifest["actions"][entry["action"]]["job_id"]
        assert entry["created_at"].endswith("Z")
    assert manifest["files"]["output/dataset.csv"]["level"] == "highly_sensitive"
    assert manifest["actions"]["summarise"]["state"] == "succeeded"
    assert manifest["actions"]["summarise"]["outputs"] == [
        "output/summary_by_age.csv",
        "output/summary_by_region.csv",
    ]


def test_each_action_has_a_log_with_its_output_and_a_trailer(study_run):
    _, workspace, _ = study_run
    log = (workspace / "metadata/generate_dataset.log").read_text()
    assert log.startswith("wrote 2000 patients to output/dataset.csv")
    assert "status: SUCCEEDED" in log and "output/dataset.csv  - highly_sensitive" in log


def test_the_patient_level_sample_is_withheld_with_a_reason(study_run):
    _, workspace, result = study_run
    level4 = workspace / "level4/output"
    assert sorted(p.name for p in level4.iterdir()) == [
        "age_chart.svg",
        "sample_rows.csv.txt",
        "summary_by_age.csv",
        "summary_by_region.csv",
    ]
    assert "patient_id column" in (level4 / "sample_rows.csv.txt").read_text()
    manifest = json.loads((workspace / "metadata/manifest.json").read_text())
    assert manifest["files"]["output/sample_rows.csv"]["viewable"] is False
    assert manifest["actions"]["export_sample"]["status_code"] == "SUCCEEDED"
    assert "1 moderately_sensitive file(s) withheld" in manifest["actions"]["export_sample"]["status_message"]
    assert "output/sample_rows.csv -> level4/output/sample_rows.csv.txt" in result.output


def test_running_it_again_reuses_the_dataset(study_run):
    study, _, _ = study_run
    result = CliRunner().invoke(run_command, ["chart", "--project-dir", str(study)])
    assert result.exit_code == 0, result.output
    assert "reused    generate_dataset" in result.output
    assert "reused    summarise" in result.output
    assert "started   chart" in result.output
