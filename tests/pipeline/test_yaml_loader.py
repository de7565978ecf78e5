"""What reaches the YAML layer: garbage, empty files, duplicate keys, tabs, line endings."""

import codecs

import pytest

from orchestrator.pipeline import parse_project
from orchestrator.pipeline.yaml_loader import load_yaml
from tests.pipeline.helpers import problems_in, valid_project

VALID = """\
version: 4
actions:
  a:
    run: python:v2 a.py
    outputs:
      moderately_sensitive:
        table: output/a.csv
"""


@pytest.mark.parametrize(
    "garbage",
    [
        pytest.param(bytes(range(256)) * 4, id="every-byte"),
        pytest.param(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", id="png-header"),
        pytest.param(b"\xff\xfe\x00\x00garbage", id="bad-bom"),
        pytest.param(b"version: 4\x00\x00\x00", id="nul-bytes"),
    ],
)
def test_binary_garbage_is_not_text(garbage):
    problems = problems_in(garbage)
    assert [p.code for p in problems] == ["NOT_TEXT"]
    assert "UTF-8" in problems[0].message


@pytest.mark.parametrize("text", ["", "   \n\n", "# only a comment\n", "---\n"])
def test_empty_file(text):
    assert [p.code for p in problems_in(text)] == ["EMPTY_FILE"]


@pytest.mark.parametrize("text", ["- version: 4\n- actions: {}\n", "just some words\n", "42\n"])
def test_top_level_must_be_a_mapping(text):
    assert [p.code for p in problems_in(text)] == ["NOT_A_MAPPING"]


def test_duplicate_action_names():
    text = VALID + "  a:\n    run: python:v2 other.py\n    outputs:\n      highly_sensitive:\n        t: output/o.csv\n"
    problems = problems_in(text)
    assert [(p.code, p.action, p.field, p.line) for p in problems] == [("DUPLICATE_ACTION", "a", None, 8)]
    assert "lines 3 and 8" in problems[0].message


def test_duplicate_key_inside_an_action():
    text = VALID.replace("    run: python:v2 a.py\n", "    run: python:v2 a.py\n    run: python:v2 b.py\n")
    problems = problems_in(text)
    assert [(p.code, p.action, p.field, p.line) for p in problems] == [("DUPLICATE_KEY", "a", "run", 5)]
    assert "'run'" in problems[0].message and "lines 4 and 5" in problems[0].message


def test_duplicate_key_deep_in_outputs_and_at_top_level():
    text = VALID.replace(
        "        table: output/a.csv\n",
        "        table: output/a.csv\n        table: output/b.csv\n",
    )
    text = "version: 4\n" + text
    problems = problems_in(text)
    assert [(p.code, p.action, p.field) for p in problems] == [
        ("DUPLICATE_KEY", None, "version"),
        ("DUPLICATE_KEY", "a", "outputs.moderately_sensitive.table"),
    ]


def test_keys_repeated_in_different_mappings_are_fine():
    valid_project(
        VALID
        + "  b:\n    run: python:v2 b.py\n    outputs:\n      moderately_sensitive:\n        table: output/b.csv\n"
    )


def test_anchors_and_merge_keys_are_not_duplicates():
    project = valid_project(
        """\
        version: 4
        actions:
          a:
            run: python:v2 a.py
            config: &shared {colour: blue, size: 3}
            outputs:
              moderately_sensitive:
                table: output/a.csv
          b:
            run: python:v2 b.py
            config:
              <<: *shared
              size: 4
            outputs:
              moderately_sensitive:
                table: output/b.csv
        """
    )
    assert dict(project.actions["b"].config) == {"colour": "blue", "size": 4}


def test_tabs_are_reported_with_their_lines():
    text = VALID.replace("      moderately_sensitive:\n        table", "      moderately_sensitive:\n\ttable")
    problems = problems_in(text)
    assert [(p.code, p.line) for p in problems] == [("YAML_TAB", 7)]
    assert "line(s) 7" in problems[0].message and "spaces" in problems[0].message


def test_a_tab_inside_a_value_is_fine():
    project = valid_project(VALID.replace("python:v2 a.py", "'python:v2 a.py\tx'"))
    assert project.actions["a"].args == ("a.py", "x")


def test_syntax_error_names_line_and_column():
    text = VALID + "   b:\n    run: python:v2 b.py\n"  # one space too many before b
    problems = problems_in(text)
    assert [p.code for p in problems] == ["YAML_SYNTAX"]
    assert problems[0].line == 8
    assert "line 8, column 4" in problems[0].message and "indentation" in problems[0].message


def test_unquoted_colon_in_run_is_explained():
    problems = problems_in(VALID.replace("python:v2 a.py", "stata-mp: analysis/check.do"))
    assert [p.code for p in problems] == ["YAML_SYNTAX"]
    assert "(quote it)" in problems[0].message


def test_merge_conflict_markers():
    text = VALID.replace("  a:\n", "<<<<<<< HEAD\n  a:\n=======\n  b:\n>>>>>>> feature\n")
    problems = problems_in(text)
    assert [(p.code, p.line) for p in problems] == [("MERGE_CONFLICT", 3)]
    assert "3, 5, 7" in problems[0].message


def test_crlf_line_endings_and_a_byte_order_mark():
    crlf = VALID.replace("\n", "\r\n").encode()
    assert parse_project(codecs.BOM_UTF8 + crlf).actions["a"].run == "python:v2 a.py"


def test_folded_run_block_is_joined_into_one_command():
    project = valid_project(
        """\
        version: 4
        actions:
          a:
            run: >
              r:v2 analysis/model.R
              --outcome "covid death"
              --years 2020
            outputs:
              highly_sensitive:
                model: output/model.rds
        """
    )
    action = project.actions["a"]
    assert (action.image, action.tag) == ("r", "v2")
    assert action.args == ("analysis/model.R", "--outcome", "covid death", "--years", "2020")


def test_yes_no_on_off_stay_strings_as_in_yaml_1_2():
    project = valid_project(VALID.replace("    run:", "    config: {flag: on, answer: no, real: true}\n    run:"))
    assert dict(project.actions["a"].config) == {"flag": "on", "answer": "no", "real": True}
    assert load_yaml("on: yes\n").data == {"on": "yes"}


def test_absurd_nesting_is_an_error_not_a_crash():
    depth = 50_000
    problems = problems_in(VALID + "    config: {x: " + "[" * depth + "]" * depth + "}\n")
    assert [p.code for p in problems] == ["YAML_SYNTAX"]


def test_unicode_action_names_and_paths_load():
    problems = problems_in(VALID.replace("  a:", "  analyse_é:"))
    assert [(p.code, p.action) for p in problems] == [("BAD_ACTION_NAME", "analyse_é")]


@pytest.mark.parametrize("value", ["!!timestamp 2020", "!!int abc", "!!float x", "!!python/object:os.system ls"])
def test_explicit_tags_with_bad_values_are_problems(value):
    problems = problems_in(VALID.replace("    run:", f"    config: {{when: {value}}}\n    run:"))
    assert [p.code for p in problems] == ["YAML_SYNTAX"]
