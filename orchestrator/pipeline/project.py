"""A validated project.yaml as frozen values, and the functions that read one.

`parse_project` / `load_project` return a `Project` or raise `ProjectError` with every problem;
`validate_project_source` returns both without raising, for callers that report rather than stop.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from orchestrator.pipeline import fields
from orchestrator.pipeline.databases import is_database_action
from orchestrator.pipeline.errors import Problem, ProjectError
from orchestrator.pipeline.features import features_for
from orchestrator.pipeline.validate import validate_actions
from orchestrator.pipeline.yaml_loader import garbage_collection_paused, load_yaml

PROJECT_FILE = "project.yaml"


@dataclass(frozen=True)
class Expectations:
    population_size: int


@dataclass(frozen=True)
class Action:
    name: str
    image: str
    tag: str
    args: tuple[str, ...]  # `run` split by shlex, after `image:tag`
    run: str  # as written, folded blocks joined
    needs: tuple[str, ...]
    outputs: Mapping[str, Mapping[str, str]]  # {privacy level: {output name: pattern}}
    config: Mapping[str, Any] | None = None
    dummy_data_file: str | None = None

    @property
    def command(self) -> tuple[str, ...]:
        return (f"{self.image}:{self.tag}", *self.args)

    @property
    def output_patterns(self) -> list[tuple[str, str, str]]:
        """(level, output name, pattern) for every declared output, in file order."""
        return [(level, name, pattern) for level, named in self.outputs.items() for name, pattern in named.items()]

    @property
    def is_database_action(self) -> bool:
        """Whether it gets DATABASE_URL (OpenSAFELY's rule, in databases.py)."""
        return is_database_action(self.image, self.args)

    def __reduce__(self):
        # A parsed project travels between Dagster ops, which pickle their outputs, and a
        # MappingProxyType does not pickle: send plain dicts and freeze them again on arrival.
        outputs = {level: dict(named) for level, named in self.outputs.items()}
        config = dict(self.config) if self.config is not None else None
        return _action, (
            self.name,
            self.image,
            self.tag,
            self.args,
            self.run,
            self.needs,
            outputs,
            config,
            self.dummy_data_file,
        )


def _action(name, image, tag, args, run, needs, outputs, config, dummy_data_file) -> Action:
    return Action(
        name,
        image,
        tag,
        args,
        run,
        needs,
        MappingProxyType({level: MappingProxyType(named) for level, named in outputs.items()}),
        MappingProxyType(config) if config is not None else None,
        dummy_data_file,
    )


@dataclass(frozen=True)
class Project:
    version: float
    actions: Mapping[str, Action]  # file order
    expectations: Expectations | None = None  # only versions before 4 have one

    def __iter__(self) -> Iterator[Action]:
        return iter(self.actions.values())

    @property
    def action_names(self) -> tuple[str, ...]:
        return tuple(self.actions)

    @property
    def needs_graph(self) -> dict[str, tuple[str, ...]]:
        """What `graph.py` takes: each action's needs, in file order."""
        return {name: action.needs for name, action in self.actions.items()}

    @property
    def output_count(self) -> int:
        return sum(len(action.output_patterns) for action in self)

    def __reduce__(self):  # as Action's
        return _project, (self.version, dict(self.actions), self.expectations)


def _project(version, actions, expectations) -> Project:
    return Project(version, MappingProxyType(actions), expectations)


def validate_project_source(source: str | bytes) -> tuple[Project | None, list[Problem]]:
    """Parse and validate; (project, []) if valid, else (None, every problem found)."""
    with garbage_collection_paused():
        return _validate(source)


def _validate(source: str | bytes) -> tuple[Project | None, list[Problem]]:
    document = load_yaml(source)
    if document.data is None:
        return None, document.problems
    data, problems = document.data, list(document.problems)
    version, found = fields.read_version(data.get("version"))
    problems += found + fields.unknown_top_level_keys(data)
    features = features_for(version)
    population_size, found = fields.read_expectations(data.get("expectations"), features)
    problems += found
    raw_actions, found = fields.read_actions(data.get("actions"))
    problems += found
    drafts = []
    for name, raw in raw_actions.items():
        draft, found = fields.read_action(name, raw, document.action_lines.get(str(name)))
        drafts.append(draft)
        problems += found
    problems += validate_actions(drafts, features)
    if problems:
        return None, problems
    expectations = Expectations(population_size) if population_size is not None else None
    actions = {draft.name: _action_from(draft) for draft in drafts}
    return Project(version, MappingProxyType(actions), expectations), []


def parse_project(source: str | bytes, filename: str = PROJECT_FILE) -> Project:
    """The validated project in `source` (YAML text or bytes); raises ProjectError."""
    project, problems = validate_project_source(source)
    if project is None:
        raise ProjectError(problems, filename)
    return project


def load_project(path: str | Path) -> Project:
    """The validated project at `path`: a project.yaml, or a directory holding one."""
    file_path = project_file_path(path)
    source, problem = read_project_file(file_path)
    if problem:
        raise ProjectError([problem], str(file_path))
    return parse_project(source, str(file_path))


def project_file_path(path: str | Path) -> Path:
    path = Path(path)
    return path / PROJECT_FILE if path.is_dir() else path


def read_project_file(file_path: Path) -> tuple[bytes, Problem | None]:
    try:
        return file_path.read_bytes(), None
    except FileNotFoundError:
        return b"", Problem(
            "FILE_NOT_FOUND",
            f"there is no {file_path}; run this in a study directory or pass its path",
        )
    except OSError as exc:
        return b"", Problem("FILE_NOT_READABLE", f"cannot read {file_path}: {exc.strerror or exc}")


def _action_from(draft: fields.ActionDraft) -> Action:
    image, _, tag = draft.command[0].partition(":")
    return Action(
        name=draft.name,
        image=image,
        tag=tag,
        args=tuple(draft.command[1:]),
        run=draft.run,
        needs=tuple(draft.needs),
        outputs=MappingProxyType({level: MappingProxyType(dict(named)) for level, named in draft.outputs.items()}),
        config=MappingProxyType(draft.config) if draft.config is not None else None,
        dummy_data_file=draft.dummy_data_file,
    )
