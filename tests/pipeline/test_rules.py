"""One case per validation rule: a small project.yaml with one defect, and the problem it gives."""

import textwrap

import pytest

from tests.pipeline.helpers import problems_in, valid_project

GOOD_OUTPUTS = """\
outputs:
  moderately_sensitive:
    table: output/table.csv
"""


def action_a(body: str, version: str = "4", preamble: str = "") -> str:
    """A project whose one action `a` has `body` (YAML lines under `a:`)."""
    indented = textwrap.indent(textwrap.dedent(body), "    ")
    return f"version: {version}\n{preamble}actions:\n  a:\n{indented}"


def with_outputs(run: str, outputs: str, version: str = "4") -> str:
    return action_a(f"run: {run}\n" + textwrap.dedent(outputs), version)


def pattern_case(pattern: str, level: str = "moderately_sensitive") -> str:
    return with_outputs("python:v2 a.py", f"outputs:\n  {level}:\n    table: '{pattern}'\n")


TWO_ACTIONS = """\
version: "{version}"
actions:
  a:
    run: {run_a}
    needs: [{needs_a}]
    outputs:
      moderately_sensitive:
        table: {out_a}
  b:
    run: {run_b}
    needs: [{needs_b}]
    outputs:
      moderately_sensitive:
        table: {out_b}
"""


def two_actions(
    version="4",
    run_a="python:v2 a.py",
    run_b="python:v2 b.py",
    needs_a="",
    needs_b="a",
    out_a="output/a.csv",
    out_b="output/b.csv",
) -> str:
    return TWO_ACTIONS.format(**locals())


COHORT = "cohortextractor:latest generate_cohort --study-definition study_definition"

# (code, action, field, project.yaml)
RULE_CASES = [
    # project level
    (
        "MISSING_VERSION",
        None,
        "version",
        "actions:\n  a:\n    run: python:v2 a.py\n" + textwrap.indent(GOOD_OUTPUTS, "    "),
    ),
    (
        "BAD_VERSION",
        None,
        "version",
        action_a("run: python:v2 a.py\n" + GOOD_OUTPUTS, version="three"),
    ),
    (
        "BAD_VERSION",
        None,
        "version",
        action_a("run: python:v2 a.py\n" + GOOD_OUTPUTS, version="true"),
    ),
    (
        "UNSUPPORTED_VERSION",
        None,
        "version",
        action_a("run: python:v2 a.py\n" + GOOD_OUTPUTS, version="6"),
    ),
    (
        "UNSUPPORTED_VERSION",
        None,
        "version",
        action_a("run: python:v2 a.py\n" + GOOD_OUTPUTS, version="0.5"),
    ),
    (
        "UNKNOWN_KEY",
        None,
        "colour",
        action_a("run: python:v2 a.py\n" + GOOD_OUTPUTS, preamble="colour: blue\n"),
    ),
    ("MISSING_ACTIONS", None, "actions", "version: 4\n"),
    ("BAD_TYPE", None, "actions", "version: 4\nactions: [a, b]\n"),
    (
        "MISSING_EXPECTATIONS",
        None,
        "expectations",
        action_a("run: python:v2 a.py\n" + GOOD_OUTPUTS, version="3"),
    ),
    (
        "EXPECTATIONS_NOT_SUPPORTED",
        None,
        "expectations",
        action_a(
            "run: python:v2 a.py\n" + GOOD_OUTPUTS,
            preamble="expectations:\n  population_size: 10\n",
        ),
    ),
    (
        "MISSING_POPULATION_SIZE",
        None,
        "expectations.population_size",
        action_a("run: python:v2 a.py\n" + GOOD_OUTPUTS, version="3", preamble="expectations: {}\n"),
    ),
    (
        "BAD_POPULATION_SIZE",
        None,
        "expectations.population_size",
        action_a(
            "run: python:v2 a.py\n" + GOOD_OUTPUTS,
            version="3",
            preamble="expectations:\n  population_size: lots\n",
        ),
    ),
    (
        "BAD_POPULATION_SIZE",
        None,
        "expectations.population_size",
        action_a(
            "run: python:v2 a.py\n" + GOOD_OUTPUTS,
            version="3",
            preamble="expectations:\n  population_size: .inf\n",
        ),
    ),
    (
        "UNKNOWN_KEY",
        None,
        "expectations.size",
        action_a(
            "run: python:v2 a.py\n" + GOOD_OUTPUTS,
            version="3",
            preamble="expectations:\n  population_size: 9\n  size: 1\n",
        ),
    ),
    # the action itself
    (
        "BAD_ACTION_NAME",
        "-a",
        None,
        "version: 4\nactions:\n  -a:\n    run: python:v2 a.py\n" + textwrap.indent(GOOD_OUTPUTS, "    "),
    ),
    (
        "BAD_ACTION_NAME",
        "a/b",
        None,
        "version: 4\nactions:\n  a/b:\n    run: python:v2 a.py\n" + textwrap.indent(GOOD_OUTPUTS, "    "),
    ),
    (
        "RESERVED_ACTION_NAME",
        "run_all",
        None,
        "version: 3\nexpectations: {population_size: 5}\nactions:\n  run_all:\n    run: python:v2 a.py\n"
        + textwrap.indent(GOOD_OUTPUTS, "    "),
    ),
    ("BAD_TYPE", "a", None, "version: 4\nactions:\n  a: python:v2 a.py\n"),
    ("MISSING_FIELD", "a", "run", action_a(GOOD_OUTPUTS)),
    ("MISSING_FIELD", "a", "outputs", action_a("run: python:v2 a.py\n")),
    ("UNKNOWN_KEY", "a", "need", action_a("run: python:v2 a.py\nneed: [b]\n" + GOOD_OUTPUTS)),
    ("BAD_TYPE", "a", "needs", action_a("run: python:v2 a.py\nneeds: b\n" + GOOD_OUTPUTS)),
    ("BAD_TYPE", "a", "needs", action_a("run: python:v2 a.py\nneeds: [1]\n" + GOOD_OUTPUTS)),
    ("BAD_TYPE", "a", "config", action_a("run: python:v2 a.py\nconfig: [x]\n" + GOOD_OUTPUTS)),
    (
        "BAD_TYPE",
        "a",
        "dummy_data_file",
        action_a("run: python:v2 a.py\ndummy_data_file: [x]\n" + GOOD_OUTPUTS),
    ),
    ("BAD_TYPE", "a", "run", action_a("run: [python, a.py]\n" + GOOD_OUTPUTS)),
    # run
    ("EMPTY_RUN", "a", "run", action_a("run: ''\n" + GOOD_OUTPUTS)),
    ("BAD_RUN", "a", "run", action_a('run: python:v2 "a.py\n' + GOOD_OUTPUTS)),
    ("BAD_RUN", "a", "run", action_a("run: ':v2 a.py'\n" + GOOD_OUTPUTS)),
    ("MISSING_IMAGE_TAG", "a", "run", action_a("run: python a.py\n" + GOOD_OUTPUTS)),
    ("BAD_IMAGE_TAG", "a", "run", action_a("run: python:3.11 a.py\n" + GOOD_OUTPUTS)),
    (
        "LATEST_TAG_NOT_ALLOWED",
        "a",
        "run",
        action_a("run: python:latest a.py\n" + GOOD_OUTPUTS, version="5"),
    ),
    (
        "COHORTEXTRACTOR_NOT_SUPPORTED",
        "a",
        "run",
        with_outputs(COHORT, "outputs:\n  highly_sensitive:\n    cohort: output/input.csv\n"),
    ),
    ("DUPLICATE_RUN", "b", "run", two_actions(run_b="python:v2 a.py")),
    # needs
    ("NEEDS_ITSELF", "a", "needs", two_actions(needs_a="a")),
    ("NEEDS_NOT_COMMA_SEPARATED", "b", "needs", two_actions(needs_b="a c")),
    ("UNKNOWN_NEED", "b", "needs", two_actions(needs_b="c")),
    ("DEPENDENCY_CYCLE", "a", "needs", two_actions(needs_a="b")),
    # outputs
    ("NO_OUTPUTS", "a", "outputs", action_a("run: python:v2 a.py\noutputs: {}\n")),
    (
        "NO_OUTPUTS",
        "a",
        "outputs",
        action_a("run: python:v2 a.py\noutputs:\n  highly_sensitive:\n"),
    ),
    (
        "UNKNOWN_PRIVACY_LEVEL",
        "a",
        "outputs.secret",
        with_outputs("python:v2 a.py", "outputs:\n  secret:\n    t: output/t.csv\n"),
    ),
    ("BAD_TYPE", "a", "outputs", action_a("run: python:v2 a.py\noutputs: output/t.csv\n")),
    (
        "BAD_TYPE",
        "a",
        "outputs.moderately_sensitive",
        with_outputs("python:v2 a.py", "outputs:\n  moderately_sensitive: output/t.csv\n"),
    ),
    (
        "BAD_TYPE",
        "a",
        "outputs.moderately_sensitive.t",
        with_outputs("python:v2 a.py", "outputs:\n  moderately_sensitive:\n    t: [output/t.csv]\n"),
    ),
    ("PATTERN_EMPTY", "a", "outputs.moderately_sensitive.table", pattern_case("")),
    (
        "PATH_OUTSIDE_WORKSPACE",
        "a",
        "outputs.moderately_sensitive.table",
        pattern_case("../elsewhere.csv"),
    ),
    (
        "PATH_OUTSIDE_WORKSPACE",
        "a",
        "outputs.moderately_sensitive.table",
        pattern_case("output/../../elsewhere.csv"),
    ),
    (
        "PATH_OUTSIDE_WORKSPACE",
        "a",
        "outputs.moderately_sensitive.table",
        pattern_case("/tmp/table.csv"),
    ),
    (
        "PATH_OUTSIDE_WORKSPACE",
        "a",
        "outputs.moderately_sensitive.table",
        pattern_case("C:/output/table.csv"),
    ),
    (
        "PATH_OUTSIDE_WORKSPACE",
        "a",
        "outputs.moderately_sensitive.table",
        pattern_case("c:table.csv"),
    ),
    (
        "PATH_OUTSIDE_WORKSPACE",
        "a",
        "outputs.moderately_sensitive.table",
        pattern_case("..\\table.csv"),
    ),
    (
        "PATTERN_BACKSLASH",
        "a",
        "outputs.moderately_sensitive.table",
        pattern_case("output\\table.csv"),
    ),
    (
        "PATTERN_BAD_WILDCARD",
        "a",
        "outputs.moderately_sensitive.table",
        pattern_case("output/**/table.csv"),
    ),
    (
        "PATTERN_BAD_WILDCARD",
        "a",
        "outputs.moderately_sensitive.table",
        pattern_case("output/table?.csv"),
    ),
    (
        "PATTERN_BAD_WILDCARD",
        "a",
        "outputs.moderately_sensitive.table",
        pattern_case("output/[ab].csv"),
    ),
    (
        "PATTERN_NO_EXTENSION",
        "a",
        "outputs.moderately_sensitive.table",
        pattern_case("output/table"),
    ),
    (
        "PATTERN_NO_EXTENSION",
        "a",
        "outputs.highly_sensitive.table",
        pattern_case("output/table.*", "highly_sensitive"),
    ),
    (
        "PATTERN_NO_EXTENSION",
        "a",
        "outputs.highly_sensitive.table",
        pattern_case("output/", "highly_sensitive"),
    ),
    (
        "BAD_LEVEL4_FILE_TYPE",
        "a",
        "outputs.moderately_sensitive.table",
        pattern_case("output/model.rds"),
    ),
    (
        "BAD_LEVEL4_FILE_TYPE",
        "a",
        "outputs.moderately_sensitive.table",
        pattern_case("output/figure.pdf"),
    ),
    (
        "PATTERN_NOT_NORMALISED",
        "a",
        "outputs.moderately_sensitive.table",
        pattern_case("output//table.csv"),
    ),
    (
        "PATTERN_NOT_NORMALISED",
        "a",
        "outputs.moderately_sensitive.table",
        pattern_case("./output/table.csv"),
    ),
    (
        "PATTERN_IN_METADATA",
        "a",
        "outputs.moderately_sensitive.table",
        pattern_case("metadata/table.csv"),
    ),
    (
        "DUPLICATE_OUTPUT",
        "b",
        "outputs.moderately_sensitive.table",
        two_actions(out_b="output/a.csv"),
    ),
    (
        "DUPLICATE_OUTPUT",
        "a",
        "outputs.moderately_sensitive.again",
        with_outputs(
            "python:v2 a.py",
            "outputs:\n  moderately_sensitive:\n    t: output/t.csv\n    again: output/t.csv\n",
        ),
    ),
    (
        "PATH_OUTSIDE_WORKSPACE",
        "a",
        "dummy_data_file",
        action_a("run: python:v2 a.py\ndummy_data_file: /etc/passwd\n" + GOOD_OUTPUTS),
    ),
    # database actions
    (
        "COHORT_OUTPUT_LEVELS",
        "a",
        "outputs",
        with_outputs(
            COHORT,
            "outputs:\n  highly_sensitive:\n    c: output/input.csv\n  moderately_sensitive:\n    l: output/log.txt\n",
            "2",
        ),
    ),
    (
        "COHORT_OUTPUT_DIRS",
        "a",
        "outputs",
        with_outputs(
            COHORT,
            "outputs:\n  highly_sensitive:\n    c: output/input.csv\n    d: other/input.csv\n",
            "2",
        ),
    ),
    (
        "DATASET_OUTPUT_LEVEL",
        "a",
        "outputs",
        with_outputs(
            "ehrql:v1 generate-dataset analysis/d.py --output output/d.csv",
            "outputs:\n  highly_sensitive:\n    d: output/d.csv\n  moderately_sensitive:\n    l: output/log.txt\n",
        ),
    ),
    (
        "DATASET_OUTPUT_ARG_MISSING",
        "a",
        "run",
        with_outputs(
            "ehrql:v1 generate-dataset analysis/d.py",
            "outputs:\n  highly_sensitive:\n    d: output/d.csv\n",
        ),
    ),
    (
        "DATASET_OUTPUT_MISMATCH",
        "a",
        "outputs.highly_sensitive",
        with_outputs(
            "ehrql:v1 generate-dataset analysis/d.py --output output/e.csv",
            "outputs:\n  highly_sensitive:\n    d: output/d.csv\n",
        ),
    ),
]


@pytest.mark.parametrize(
    "code, action, field, yaml_text",
    [pytest.param(*case, id=f"{case[0]}-{i}") for i, case in enumerate(RULE_CASES)],
)
def test_rule(code, action, field, yaml_text):
    problems = problems_in(yaml_text)
    matching = [p for p in problems if p.code == code]
    assert matching, [p.describe() for p in problems]
    assert (matching[0].action, matching[0].field) == (action, field)
    assert matching[0].message  # a sentence the user can act on, never empty


@pytest.mark.parametrize(
    "code, action, field, yaml_text",
    [pytest.param(*case, id=f"{case[0]}-{i}") for i, case in enumerate(RULE_CASES)],
)
def test_each_rule_case_has_only_its_own_defect(code, action, field, yaml_text):
    assert {p.code for p in problems_in(yaml_text)} == {code}


@pytest.mark.parametrize(
    "yaml_text",
    [
        pytest.param(action_a("run: python:latest a.py\n" + GOOD_OUTPUTS, version="4"), id="latest-before-v5"),
        pytest.param(action_a("run: python:dev a.py\n" + GOOD_OUTPUTS, version="5"), id="dev-tag"),
        pytest.param(
            action_a("run: python:v1.2-pre a.py\n" + GOOD_OUTPUTS, version="5"),
            id="pre-release-tag",
        ),
        pytest.param(two_actions(version="1", out_b="output/a.csv"), id="shared-output-in-v1"),
        pytest.param(pattern_case("output/model.rds", "highly_sensitive"), id="any-type-highly-sensitive"),
        pytest.param(pattern_case("output/figure_*.svgz"), id="level4-glob"),
        pytest.param(
            with_outputs(
                COHORT + " --output-dir=output",
                "outputs:\n  highly_sensitive:\n    c: output/a.csv\n    d: other/b.csv\n",
                "2",
            ),
            id="cohort-explicit-output-dir",
        ),
        pytest.param(
            with_outputs(
                "ehrql:v1 generate-dataset d.py --output output/tables/:csv",
                "outputs:\n  highly_sensitive:\n    d: output/tables/*.csv\n",
            ),
            id="ehrql-output-directory",
        ),
        pytest.param(
            with_outputs(
                "databuilder:v0 generate_dataset d.py --output=output/d.csv.gz",
                "outputs:\n  highly_sensitive:\n    d: output/d.csv.gz\n",
            ),
            id="databuilder-old-spelling",
        ),
        pytest.param(
            action_a(
                "run: python:v2 a.py\noutputs:\n  highly_sensitive: {}\n  moderately_sensitive:\n    t: output/t.csv\n"
            ),
            id="an-empty-level",
        ),
        pytest.param(action_a("run: python:v2 a.py\nneeds:\n" + GOOD_OUTPUTS), id="empty-needs"),
        pytest.param(
            action_a("run: python:v2 a.py\nconfig: {a: [1, 2], on: yes}\n" + GOOD_OUTPUTS),
            id="config-any-mapping",
        ),
        pytest.param(
            action_a("run: python:v2 a.py\ndummy_data_file: analysis/dummy.csv\n" + GOOD_OUTPUTS),
            id="dummy-data-file",
        ),
    ],
)
def test_valid_edge_cases(yaml_text):
    valid_project(yaml_text)


def test_version_3_with_expectations_and_a_cohort_is_valid():
    project = valid_project(
        f"""\
        version: '3.0'
        expectations:
          population_size: 1000
        actions:
          generate_cohort:
            run: {COHORT}
            outputs:
              highly_sensitive:
                cohort: output/input.csv
        """
    )
    assert project.version == 3.0
    assert project.expectations.population_size == 1000


def test_versions_before_3_get_the_default_population():
    project = valid_project(action_a("run: python:v2 a.py\n" + GOOD_OUTPUTS, version="2"))
    assert project.expectations.population_size == 1000


def test_unknown_need_suggests_a_close_name():
    yaml_text = two_actions(needs_b="generate_cohrot").replace("  a:", "  generate_cohort:")
    problems = problems_in(yaml_text)
    assert "did you mean 'generate_cohort'" in problems[0].message


def test_problems_carry_the_line_of_their_action():
    problems = problems_in(two_actions(needs_b="missing"))
    assert problems[0].line == 9
    assert problems[0].describe("project.yaml").startswith("project.yaml:9: action 'b', field 'needs': ")
