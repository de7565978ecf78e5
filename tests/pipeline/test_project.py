"""The Project value a valid file becomes, and how an invalid one is reported: all at once."""

import dataclasses
import pickle

import pytest

from orchestrator.pipeline import ProjectError, load_project, parse_project
from tests.pipeline.helpers import problems_in, valid_project

STUDY = """\
version: "3.0"
expectations:
  population_size: 5000
actions:
  generate_study_population:
    run: cohortextractor:latest generate_cohort --study-definition study_definition
    outputs:
      highly_sensitive:
        cohort: output/input.csv
  describe:
    run: r:latest analysis/describe.R --label 'all patients'
    needs: [generate_study_population]
    config:
      groups: [age, sex]
    dummy_data_file: analysis/dummy.csv
    outputs:
      moderately_sensitive:
        table: output/describe/*.csv
        log: logs/describe.log
      highly_sensitive:
        model: output/describe/model.rds
  report:
    run: python:v2 analysis/report.py
    needs: [describe, generate_study_population]
    outputs:
      moderately_sensitive:
        report: output/report.html
"""


def test_a_valid_project_becomes_frozen_values_in_file_order():
    project = valid_project(STUDY)
    assert project.version == 3.0
    assert project.expectations.population_size == 5000
    assert project.action_names == ("generate_study_population", "describe", "report")
    describe = project.actions["describe"]
    assert (describe.image, describe.tag) == ("r", "latest")
    assert describe.args == ("analysis/describe.R", "--label", "all patients")
    assert describe.command == ("r:latest", "analysis/describe.R", "--label", "all patients")
    assert describe.needs == ("generate_study_population",)
    assert {level: dict(named) for level, named in describe.outputs.items()} == {
        "highly_sensitive": {"model": "output/describe/model.rds"},
        "moderately_sensitive": {"table": "output/describe/*.csv", "log": "logs/describe.log"},
    }
    assert describe.output_patterns[0] == ("highly_sensitive", "model", "output/describe/model.rds")
    assert dict(describe.config) == {"groups": ["age", "sex"]}
    assert describe.dummy_data_file == "analysis/dummy.csv"
    assert project.output_count == 5
    with pytest.raises(dataclasses.FrozenInstanceError):
        describe.run = "python:v2 evil.py"
    with pytest.raises(TypeError):
        project.actions["evil"] = describe


def test_needs_graph_and_database_actions():
    project = valid_project(STUDY)
    assert project.needs_graph == {
        "generate_study_population": (),
        "describe": ("generate_study_population",),
        "report": ("describe", "generate_study_population"),
    }
    assert [a.name for a in project if a.is_database_action] == ["generate_study_population"]


def test_version_4_has_no_expectations():
    project = valid_project(
        """\
        version: 4
        actions:
          generate_dataset:
            run: ehrql:v1 generate-dataset analysis/dataset_definition.py --output output/dataset.arrow
            outputs:
              highly_sensitive:
                dataset: output/dataset.arrow
        """
    )
    assert project.expectations is None
    assert project.actions["generate_dataset"].is_database_action


def test_every_problem_is_reported_at_once():
    # three unrelated defects in three places
    problems = problems_in(
        """\
        version: 4
        actions:
          a:
            run: python a.py
            outputs:
              moderately_sensitive:
                table: output/a.csv
          b:
            run: python:v2 b.py
            needs: [c]
            outputs:
              moderately_sensitive:
                model: output/b.rds
        """
    )
    assert [(p.code, p.action, p.field) for p in problems] == [
        ("MISSING_IMAGE_TAG", "a", "run"),
        ("UNKNOWN_NEED", "b", "needs"),
        ("BAD_LEVEL4_FILE_TYPE", "b", "outputs.moderately_sensitive.model"),
    ]


def test_problems_in_the_project_and_in_actions_come_together():
    problems = problems_in(
        """\
        versoin: 4
        actions:
          a:
            run: python:v2 a.py
            outputs:
              moderately_sensitive:
                table: ../a.csv
        """
    )
    assert [p.code for p in problems] == [
        "MISSING_VERSION",
        "UNKNOWN_KEY",
        "PATH_OUTSIDE_WORKSPACE",
    ]


def test_parse_project_raises_project_error_listing_every_problem():
    with pytest.raises(ProjectError) as caught:
        parse_project("version: 9\nactions: []\n", "study/project.yaml")
    assert caught.value.codes == ["UNSUPPORTED_VERSION", "BAD_TYPE"]
    assert "study/project.yaml: field 'version': version 9 is not supported" in str(caught.value)


def test_load_project_from_a_file_or_its_directory(tmp_path):
    (tmp_path / "project.yaml").write_text(STUDY)
    assert load_project(tmp_path).action_names == load_project(tmp_path / "project.yaml").action_names


def test_load_project_without_a_file(tmp_path):
    with pytest.raises(ProjectError) as caught:
        load_project(tmp_path)
    assert caught.value.codes == ["FILE_NOT_FOUND"]


def test_a_project_pickles_to_an_equal_frozen_project():
    # Dagster pickles op outputs, and a run passes its one parsed project from op to op.
    project = valid_project(STUDY)
    copy = pickle.loads(pickle.dumps(project))
    assert copy == project and copy.action_names == project.action_names
    describe = copy.actions["describe"]
    assert describe.config == {"groups": ["age", "sex"]} and describe.outputs["highly_sensitive"]["model"]
    with pytest.raises(TypeError):
        describe.outputs["highly_sensitive"]["model"] = "elsewhere"  # still frozen
    with pytest.raises(TypeError):
        copy.actions["new"] = describe
