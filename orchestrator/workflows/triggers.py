"""Trigger files (triggers/*.yaml): object type -> workflow, validated when definitions load.

    id: metadata-in                 # optional; defaults to the file name
    object_type: {id: metadata-in, name: Metadata submission, description: ...}   # or an id defined elsewhere
    workflow: metadata-in-1.0.0     # an id in orchestrator.workflows.WORKFLOWS
    config: {schema: study-metadata}   # becomes each triggered job's config

A bad file is a startup error naming the file and what to fix, never a sensor that silently idles.
"""

from dataclasses import dataclass
from pathlib import Path

import yaml

from orchestrator.workflows import WORKFLOWS, ObjectTypeSpec, WorkflowSpec

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "triggers"
ALLOWED_KEYS = {"id", "object_type", "workflow", "config"}


class TriggerFileError(Exception):
    def __init__(self, path: Path, problem: str):
        super().__init__(f"{path}: {problem}")


@dataclass(frozen=True)
class TriggerSpec:
    id: str
    object_type_id: str
    workflow_id: str
    config: dict
    path: Path


@dataclass(frozen=True)
class TriggerSet:
    triggers: tuple[TriggerSpec, ...]
    object_types: tuple[ObjectTypeSpec, ...]  # defined by trigger files or produced by workflows

    def workflows(self) -> list[WorkflowSpec]:
        return [WORKFLOWS[w] for w in sorted({t.workflow_id for t in self.triggers})]

    def for_type(self, type_id: str) -> list[TriggerSpec]:
        return [t for t in self.triggers if t.object_type_id == type_id]


def _parse(path: Path) -> tuple[dict, ObjectTypeSpec | None]:
    try:
        data = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise TriggerFileError(path, f"not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise TriggerFileError(path, "must be a mapping with keys object_type, workflow and optionally id, config")
    unknown = sorted(set(data) - ALLOWED_KEYS)
    if unknown:
        raise TriggerFileError(path, f"unknown key(s) {unknown}; allowed: {sorted(ALLOWED_KEYS)}")
    if not isinstance(data.get("config", {}), dict):
        raise TriggerFileError(path, "config must be a mapping")
    kind = data.get("object_type")
    if isinstance(kind, dict):
        if not kind.get("id") or not kind.get("name"):
            raise TriggerFileError(path, "object_type needs an id and a name")
        return data, ObjectTypeSpec(str(kind["id"]), str(kind["name"]), str(kind.get("description", "")))
    if not isinstance(kind, str) or not kind:
        raise TriggerFileError(path, "object_type must be an object type id or a mapping {id, name, description}")
    return data, None


def load_triggers(directory: Path | None = None) -> TriggerSet:
    directory = directory or DEFAULT_DIR
    parsed = [(path, *_parse(path)) for path in sorted(directory.glob("*.yaml"))]
    types = {t.id: t for spec in WORKFLOWS.values() for t in spec.produces}
    types.update({defined.id: defined for _, _, defined in parsed if defined})
    triggers = []
    for path, data, defined in parsed:
        type_id = defined.id if defined else data["object_type"]
        workflow_id = data.get("workflow")
        if workflow_id not in WORKFLOWS:
            raise TriggerFileError(path, f"unknown workflow {workflow_id!r}; known: {sorted(WORKFLOWS)}")
        if type_id not in types:
            raise TriggerFileError(
                path,
                f"unknown object type {type_id!r}: define it here as a mapping "
                f"{{id, name}} or in another trigger file; known: {sorted(types)}",
            )
        config = data.get("config") or {}
        problem = WORKFLOWS[workflow_id].check_config(config)
        if problem:
            raise TriggerFileError(path, f"config for workflow {workflow_id!r}: {problem}")
        triggers.append(TriggerSpec(str(data.get("id") or path.stem), type_id, workflow_id, config, path))
    first_of: dict[tuple[str, str], TriggerSpec] = {}
    for trigger in triggers:  # one job per (workflow, inputs): a second trigger's job would collide with the first's
        first = first_of.setdefault((trigger.object_type_id, trigger.workflow_id), trigger)
        if first is not trigger:
            raise TriggerFileError(
                trigger.path,
                f"{first.path.name} already triggers workflow {trigger.workflow_id!r} on "
                f"{trigger.object_type_id!r}; merge the two files",
            )
    ids = [t.id for t in triggers]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise TriggerFileError(directory, f"duplicate trigger id(s) {duplicates}")
    return TriggerSet(tuple(triggers), tuple(types.values()))
