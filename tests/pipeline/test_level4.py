"""Level 4 checks on a moderately_sensitive file, one reason per test."""

import pytest

from orchestrator.pipeline.level4 import MAX_CSV_ROWS, MAX_FILE_SIZE, level4_problems, withheld_reason


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_an_aggregated_csv_passes(tmp_path):
    path = write(tmp_path, "t.csv", "region,count\nEast,10\nWest,15\n")
    assert level4_problems(path, "output/t.csv") == []


@pytest.mark.parametrize("header", ["patient_id,age", "age,PATIENT_ID", "age, Patient_Id "])
def test_a_patient_id_column_is_withheld_whatever_its_case(tmp_path, header):
    path = write(tmp_path, "t.csv", f"{header}\n1,2\n")
    assert level4_problems(path, "output/t.csv") == ["it has a patient_id column, which identifies patients"]


def test_a_patient_id_value_in_a_row_is_not_a_column(tmp_path):
    assert level4_problems(write(tmp_path, "t.csv", "label\npatient_id\n"), "output/t.csv") == []


def test_more_than_5000_rows_is_withheld(tmp_path):
    at_limit = write(tmp_path, "a.csv", "n\n" + "1\n" * MAX_CSV_ROWS)
    over = write(tmp_path, "b.csv", "n\n" + "1\n" * (MAX_CSV_ROWS + 1))
    assert level4_problems(at_limit, "output/a.csv") == []
    assert level4_problems(over, "output/b.csv") == ["it has 5001 rows; the limit is 5000"]


def test_a_file_over_16_mb_is_withheld_without_reading_its_rows(tmp_path):
    path = tmp_path / "big.csv"
    with open(path, "wb") as file:
        file.truncate(MAX_FILE_SIZE + 1)
    problems = level4_problems(path, "output/big.csv")
    assert len(problems) == 1 and "the limit is 16 MB" in problems[0]


def test_a_file_type_not_allowed_at_level_4_is_withheld(tmp_path):
    path = write(tmp_path, "x.dta", "binary")
    assert "not a Level 4 file type" in level4_problems(path, "output/x.dta")[0]


def test_the_withheld_text_names_the_file_and_every_reason(tmp_path):
    text = withheld_reason("output/t.csv", ["reason one", "reason two"])
    assert text.startswith("output/t.csv was withheld by the Level 4 checks")
    assert "  - reason one\n  - reason two" in text


def test_a_csv_the_csv_module_cannot_read_is_withheld_not_an_error(tmp_path):
    # One field over the csv module's field size limit (128 KiB): unreadable, so unreviewable.
    path = write(tmp_path, "t.csv", "note\n" + "x" * (200 * 1024) + "\n")
    (problem,) = level4_problems(path, "output/t.csv")
    assert problem.startswith("it cannot be read as CSV (field larger than field limit")
