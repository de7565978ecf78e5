"""`orchestrator check`: one line per problem, or a one-line summary, and an exit code."""

from orchestrator.pipeline.check import check_project, main

VALID = """\
version: 4
actions:
  extract:
    run: ehrql:v1 generate-dataset analysis/dataset.py --output output/dataset.csv.gz
    outputs:
      highly_sensitive:
        dataset: output/dataset.csv.gz
  describe:
    run: r:v2 analysis/describe.R
    needs: [extract]
    outputs:
      moderately_sensitive:
        table: output/table.csv
        figure: output/figure.png
"""


def test_a_valid_project_is_summarised_in_one_line(tmp_path, capsys):
    (tmp_path / "project.yaml").write_text(VALID)
    result = check_project(tmp_path)
    assert result.ok and result.project is not None
    assert result.lines == [f"{tmp_path}/project.yaml: valid (version 4, 2 actions, 3 outputs)"]
    assert main(tmp_path) == 0
    assert "valid (version 4, 2 actions, 3 outputs)" in capsys.readouterr().out


def test_every_problem_is_a_line_naming_action_and_field(tmp_path, capsys):
    path = tmp_path / "study.yaml"
    path.write_text(VALID.replace("needs: [extract]", "needs: [extrct]").replace("figure.png", "figure.pdf"))
    result = check_project(path)
    assert not result.ok
    assert result.lines[0].startswith(f"{path}:8: action 'describe', field 'needs': needs 'extrct'")
    assert result.lines[1].startswith(f"{path}:8: action 'describe', field 'outputs.moderately_sensitive.figure': ")
    assert result.lines[-1] == f"{path}: 2 problem(s) found"
    assert main(path) == 1
    assert capsys.readouterr().out.count("\n") == 3


def test_a_missing_file_is_a_problem_not_a_traceback(tmp_path):
    result = check_project(tmp_path / "nowhere.yaml")
    assert not result.ok
    assert [p.code for p in result.problems] == ["FILE_NOT_FOUND"]
    assert main(tmp_path) == 1
