"""Trigger files: the real triggers/ directory loads, and each kind of bad file is a startup error
(TriggerFileError) that names the file and says what to fix."""

from pathlib import Path

import pytest

from orchestrator.workflows import WORKFLOWS, WorkflowSpec
from orchestrator.workflows.triggers import TriggerFileError, load_triggers

VALID = """\
object_type: {id: sample-sheet, name: Sample sheet}
workflow: metadata-in-1.0.0
config: {schema: study-metadata}
"""


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text)
    return path


def load_error(directory: Path) -> str:
    with pytest.raises(TriggerFileError) as info:
        load_triggers(directory)
    return str(info.value)


def test_real_trigger_files_load():
    triggers = load_triggers()
    by_id = {t.id: t for t in triggers.triggers}
    metadata = by_id["metadata-in"]
    assert (metadata.object_type_id, metadata.workflow_id) == ("metadata-in", "metadata-in-1.0.0")
    assert metadata.config == {"schema": "study-metadata", "replace": False}
    assert {"metadata-in", "metadata-validated"} <= {t.id for t in triggers.object_types}
    assert all(t.workflow_id in WORKFLOWS for t in triggers.triggers)
    assert "metadata-in-1.0.0" in [spec.id for spec in triggers.workflows()]
    assert triggers.for_type("metadata-in") == [metadata] and triggers.for_type("metadata-validated") == []


def test_id_defaults_to_the_file_name(tmp_path):
    write(tmp_path, "sheets.yaml", VALID)
    (trigger,) = load_triggers(tmp_path).triggers
    assert (trigger.id, trigger.object_type_id, trigger.path) == ("sheets", "sample-sheet", tmp_path / "sheets.yaml")


@pytest.mark.parametrize(
    "text, problem",
    [
        (VALID.replace("metadata-in-1.0.0", "no-such-workflow"), "unknown workflow 'no-such-workflow'"),
        (
            "object_type: no-such-type\nworkflow: metadata-in-1.0.0\nconfig: {schema: study-metadata}\n",
            "unknown object type 'no-such-type'",
        ),
        ("object_type: [unclosed\n", "not valid YAML"),
        ("- object_type: sample-sheet\n", "must be a mapping"),
        ("just a string\n", "must be a mapping"),
        (VALID + "worklow: typo\n", "unknown key(s) ['worklow']"),
        (
            VALID.replace("study-metadata", "no-such-schema"),
            "config for workflow 'metadata-in-1.0.0': No JSON Schema named 'no-such-schema'",
        ),
        (VALID.replace("config: {schema: study-metadata}", "config: [study-metadata]"), "config must be a mapping"),
        (
            VALID.replace("{id: sample-sheet, name: Sample sheet}", "{id: sample-sheet}"),
            "object_type needs an id and a name",
        ),
        ("workflow: metadata-in-1.0.0\n", "object_type must be"),
    ],
)
def test_bad_file_is_an_error_naming_the_file(tmp_path, text, problem):
    write(tmp_path, "a-good.yaml", VALID.replace("sample-sheet", "other-sheet"))
    bad = write(tmp_path, "b-bad.yaml", text)
    message = load_error(tmp_path)
    assert message.startswith(f"{bad}: ") and problem in message, message


def test_unknown_workflow_lists_the_known_ones(tmp_path):
    write(tmp_path, "t.yaml", VALID.replace("metadata-in-1.0.0", "metadata-in-2"))
    assert f"known: {sorted(WORKFLOWS)}" in load_error(tmp_path)


def test_duplicate_trigger_ids(tmp_path):
    write(tmp_path, "one.yaml", "id: same\n" + VALID)
    write(tmp_path, "two.yaml", "id: same\n" + VALID.replace("sample-sheet", "other-sheet"))
    message = load_error(tmp_path)
    assert message.startswith(f"{tmp_path}: ") and "duplicate trigger id(s) ['same']" in message


def test_two_triggers_of_one_workflow_on_one_type_are_rejected(tmp_path):
    """Both would make the same job (its id is workflow + inputs) with different configs: the runtime
    answers 409 to the second, and the new-objects sensor would fail on that object every tick."""
    write(tmp_path, "a.yaml", VALID)
    second = write(
        tmp_path,
        "b.yaml",
        "object_type: sample-sheet\nworkflow: metadata-in-1.0.0\nconfig: {schema: study-metadata, strict: true}\n",
    )
    message = load_error(tmp_path)
    assert str(second) in message and "metadata-in-1.0.0" in message and "sample-sheet" in message, message


def test_object_type_may_be_one_a_workflow_produces(tmp_path):
    write(
        tmp_path,
        "chain.yaml",
        "object_type: metadata-validated\nworkflow: metadata-in-1.0.0\nconfig: {schema: study-metadata}\n",
    )
    (trigger,) = load_triggers(tmp_path).triggers
    assert (trigger.id, trigger.object_type_id) == ("chain", "metadata-validated")


def test_object_type_may_be_defined_in_another_file(tmp_path, monkeypatch):
    monkeypatch.setitem(
        WORKFLOWS, "other-1.0.0", WorkflowSpec(id="other-1.0.0", name="Other", job=WORKFLOWS["metadata-in-1.0.0"].job)
    )
    write(tmp_path, "a.yaml", "object_type: sample-sheet\nworkflow: other-1.0.0\n")
    write(tmp_path, "b.yaml", VALID)
    triggers = load_triggers(tmp_path)
    assert [(t.object_type_id, t.workflow_id) for t in triggers.triggers] == [
        ("sample-sheet", "other-1.0.0"),
        ("sample-sheet", "metadata-in-1.0.0"),
    ]
    assert [t.name for t in triggers.object_types if t.id == "sample-sheet"] == ["Sample sheet"]


def test_empty_directory_has_no_triggers(tmp_path):
    assert load_triggers(tmp_path).triggers == ()
