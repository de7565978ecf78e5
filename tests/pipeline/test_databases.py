"""Database actions (OpenSAFELY's rule), a site's database map, and DATABASE_URL: only a database
action gets it, for the database it is given; no action inherits the site's own."""

import json
import shlex
import sys

import pytest

from orchestrator.pipeline import DatabaseMap, DatabaseMapError, ImageMap, StatusCode, is_database_action
from tests.pipeline.helpers import valid_project
from tests.pipeline.studies import action, make_study, project, run

# (run command, database action?) -- OpenSAFELY's DB_COMMANDS (opensafely-core/pipeline, models.py)
RUN_COMMANDS = [
    ("ehrql:v1 generate-dataset analysis/dataset_definition.py --output output/dataset.csv", True),
    ("ehrql:v1 generate-measures analysis/measures.py --output output/measures.csv", True),
    ("ehrql:v1 dump-dataset-sql analysis/dataset_definition.py", False),
    ("ehrql:v1 assure analysis/test_dataset_definition.py", False),
    ("ehrql:v1", False),  # no command
    ("sqlrunner:latest analysis/query.sql --output output/results.csv", True),  # any command
    ("sqlrunner:v1", True),
    ("cohortextractor:latest generate_cohort --study-definition study_definition", True),
    ("cohortextractor:latest generate_codelist_report --codelist-path codelists/x.csv", True),
    ("cohortextractor:latest generate_measures --study-definition study_definition", False),  # reads cohorts
    ("databuilder:v0 generate-dataset analysis/dataset_definition.py --output output/dataset.csv", True),
    ("databuilder:v0 generate_dataset analysis/dataset_definition.py", False),
    ("cohortextractor-v2:latest generate_cohort --output output/cohort.csv", False),  # retired, not listed
    ("python:v2 analysis/generate-dataset.py generate-dataset", False),
    ("r:latest generate-dataset", False),
    ("stata-mp:latest sqlrunner", False),
]


@pytest.mark.parametrize(("command", "expected"), RUN_COMMANDS)
def test_is_database_action_follows_opensafely(command, expected):
    image, *args = shlex.split(command)
    assert is_database_action(image, args) is expected
    assert is_database_action(image.split(":")[0], args) is expected  # with or without the tag


def test_a_parsed_action_knows_whether_it_is_a_database_action():
    parsed = valid_project(
        """
        version: '4.0'
        actions:
          dataset:
            run: ehrql:v1 generate-dataset analysis/dataset_definition.py --output output/dataset.csv
            outputs: {highly_sensitive: {dataset: output/dataset.csv}}
          sql:
            run: sqlrunner:latest analysis/query.sql --output output/results.csv
            outputs: {highly_sensitive: {results: output/results.csv}}
          describe:
            run: python:v2 analysis/describe.py
            needs: [dataset]
            outputs: {moderately_sensitive: {table: output/table.csv}}
        """
    )
    assert {a.name: a.is_database_action for a in parsed} == {"dataset": True, "sql": True, "describe": False}


def test_a_site_maps_database_names_to_urls():
    databases = DatabaseMap.from_json('{"full": "postgresql://db/full", "sample": "postgresql://db/sample"}')
    assert databases.names == ["full", "sample"]
    assert databases.url_for("sample") == "postgresql://db/sample"
    assert databases.url_for("slice") is None
    assert DatabaseMap.from_json("  ").names == [] and DatabaseMap().url_for("full") is None


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("{full: x}", "not valid JSON"),
        ('["postgresql://secret@db/full"]', "must be a JSON object"),
        ('{"full db": "postgresql://secret@db/full"}', "'full db'"),
        ('{"../x": "postgresql://secret@db/full"}', "'../x'"),
        ('{"full": ""}', "'full'"),
        ('{"full": 5}', "'full'"),
    ],
)
def test_an_unusable_database_map_is_an_error_that_never_shows_a_url(raw, says):
    with pytest.raises(DatabaseMapError) as error:
        DatabaseMap.from_json(raw)
    assert says in str(error.value) and "ORCHESTRATOR_DATABASES" in str(error.value)
    assert "secret" not in str(error.value)


def test_an_unknown_database_is_explained_with_the_sites_names_and_how_to_map_one():
    databases = DatabaseMap.from_json('{"full": "postgresql://secret@db/full", "sample": "postgresql://db/s"}')
    assert databases.unknown_database_message("full", ["dataset"]) is None
    message = databases.unknown_database_message("slice", ["dataset", "sql"])
    assert message.startswith("database action(s) dataset, sql need database 'slice'")
    assert "its databases: full, sample" in message
    assert """ORCHESTRATOR_DATABASES='{"slice": "postgresql://..."}'""" in message
    assert "secret" not in message
    assert "none (ORCHESTRATOR_DATABASES is not set)" in DatabaseMap().unknown_database_message("full", ["dataset"])


# Stands in for ehrql: writes the DATABASE_URL it was given (or "none") to the file after --output.
ECHO_DATABASE = """
    import os, pathlib, sys
    output = pathlib.Path(sys.argv[sys.argv.index("--output") + 1])
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(os.environ.get("DATABASE_URL", "none"))
"""


def database_study(tmp_path):
    return make_study(
        tmp_path,
        project(
            action(
                "dataset",
                "generate-dataset analysis/dataset_definition.py --output output/dataset.csv",
                {"highly_sensitive": {"dataset": "output/dataset.csv"}},
                image="ehrql:v1",
            ),
            action("describe", "analysis/echo.py --output output/describe.csv", needs=["dataset"]),
        ),
        scripts={"echo": ECHO_DATABASE, "dataset_definition": "# read by ehrql\n"},
    )


def test_only_a_database_action_gets_database_url_and_never_the_sites_own(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://site:password@site-db/own")  # the site's own: never passed on
    study = database_study(tmp_path)
    image_map = {"ehrql": [sys.executable, "analysis/echo.py"], "python": [sys.executable]}
    outcome, workspace = run(
        study, image_map=ImageMap.from_mapping(image_map), database_url="postgresql://reader@db/sample"
    )
    assert outcome.ok, [r.message for r in outcome.failed]
    assert (workspace.path / "output/dataset.csv").read_text() == "postgresql://reader@db/sample"
    assert (workspace.path / "output/describe.csv").read_text() == "none"
    assert "reader@db" not in (workspace.path / "metadata/dataset.log").read_text()  # the log shows argv, not env

    # without a database (a local run), a database action runs with none either
    outcome, workspace = run(study, image_map=ImageMap.from_mapping(image_map), force_run_dependencies=True)
    assert outcome.ok and (workspace.path / "output/dataset.csv").read_text() == "none"


def test_an_unmapped_database_image_is_an_internal_error_naming_the_image_map(tmp_path):
    outcome, _ = run(database_study(tmp_path), database_url="postgresql://reader@db/sample")
    dataset = outcome.results["dataset"]
    assert dataset.status_code is StatusCode.INTERNAL_ERROR
    assert "image 'ehrql' is not mapped" in dataset.message and "ORCHESTRATOR_IMAGE_MAP" in dataset.message
    assert outcome.results["describe"].status_code is StatusCode.DEPENDENCY_FAILED
    assert json.loads((tmp_path / "workspace/metadata/manifest.json").read_text())["files"] == {}
