"""Read the raw YAML values of a project into typed drafts, reporting wrong shapes as problems.

Only the shape is checked here (types, required and unknown keys, how `run` splits); the rules
that relate fields and actions to each other live in `validate.py` and read these drafts. A field
that is missing or malformed is left as None so later rules skip it instead of piling on.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from typing import Any

from orchestrator.pipeline.errors import Problem
from orchestrator.pipeline.features import LATEST_VERSION, OLDEST_VERSION, Features
from orchestrator.pipeline.patterns import PRIVACY_LEVELS

TOP_LEVEL_KEYS = ("version", "expectations", "actions")
DEFAULT_POPULATION_SIZE = 1000
SUPPORTED = f"{OLDEST_VERSION:g} to {LATEST_VERSION:g}"

_SHLEX_SPECIAL = re.compile(r"['\"\\]")
_WORD = re.compile(r"[^ \t\r\n]+")  # shlex's whitespace

_TYPE_NAMES = {str: "a string", dict: "a mapping of key: value pairs", list: "a list"}

# key: (expected type, required?)
ACTION_FIELDS: dict[str, tuple[type, bool]] = {
    "run": (str, True),
    "outputs": (dict, True),
    "needs": (list, False),
    "config": (dict, False),
    "dummy_data_file": (str, False),
}

_FIELD_HINTS = {
    "needs": " such as [action_a, action_b]",
    "run": " such as `python:v2 analysis/model.py`",
    "outputs": " of privacy levels, e.g. highly_sensitive: {cohort: output/input.csv}",
}


@dataclass
class ActionDraft:
    """An action as read from YAML; None marks a field that is absent or already reported."""

    name: Any
    line: int | None = None
    run: str | None = None
    command: list[str] | None = None  # `run` split by shlex: [image:tag, *args]
    needs: list[str] = field(default_factory=list)
    outputs: dict[str, dict[str, str]] | None = None  # {level: {name: pattern}}, known levels only
    config: dict | None = None
    dummy_data_file: str | None = None


def read_version(raw: Any) -> tuple[float | None, list[Problem]]:
    if raw is None:
        message = f"the project needs `version:`, the project.yaml format it uses (latest is {LATEST_VERSION:g})"
        return None, [Problem("MISSING_VERSION", message, field="version")]
    try:
        if isinstance(raw, bool):
            raise ValueError(raw)
        version = float(raw)
    except (TypeError, ValueError):
        message = f"`version` must be a number from {SUPPORTED}, not {raw!r}"
        return None, [Problem("BAD_VERSION", message, field="version")]
    if not OLDEST_VERSION <= version <= LATEST_VERSION:
        message = f"version {raw!r} is not supported; use a version from {SUPPORTED}"
        return None, [Problem("UNSUPPORTED_VERSION", message, field="version")]
    return version, []


def unknown_top_level_keys(data: dict) -> list[Problem]:
    return [
        Problem(
            "UNKNOWN_KEY",
            f"unknown key {key!r}; a project has only {', '.join(TOP_LEVEL_KEYS)}",
            field=str(key),
        )
        for key in data
        if key not in TOP_LEVEL_KEYS
    ]


def read_actions(raw: Any) -> tuple[dict[Any, Any], list[Problem]]:
    if raw is None:
        message = "the project needs an `actions:` mapping of action names to actions"
        return {}, [Problem("MISSING_ACTIONS", message, field="actions")]
    if not isinstance(raw, dict):
        return {}, [_bad_type("actions", dict, raw)]
    return raw, []


def read_action(name: Any, raw: Any, line: int | None) -> tuple[ActionDraft, list[Problem]]:
    draft = ActionDraft(name=name, line=line)
    label = str(name)
    if not isinstance(raw, dict):
        return draft, [_bad_type(None, dict, raw, label, line)]
    problems = [
        Problem(
            "UNKNOWN_KEY",
            f"unknown key {key!r}; an action has only {', '.join(ACTION_FIELDS)}",
            label,
            str(key),
            line,
        )
        for key in raw
        if key not in ACTION_FIELDS
    ]
    values = {}
    for key, (expected, required) in ACTION_FIELDS.items():
        value = raw.get(key)
        if value is None:
            if required:
                problems.append(Problem("MISSING_FIELD", f"every action needs `{key}:`", label, key, line))
        elif not isinstance(value, expected):
            problems.append(_bad_type(key, expected, value, label, line))
        else:
            values[key] = value
    draft.config = values.get("config")
    draft.dummy_data_file = values.get("dummy_data_file")
    draft.run, draft.command = _read_run(values.get("run"), label, line, problems)
    draft.needs = _read_needs(values.get("needs") or [], label, line, problems)
    if "outputs" in values:
        draft.outputs = _read_outputs(values["outputs"], label, line, problems)
    return draft, problems


def _read_run(run: str | None, label: str, line: int | None, problems: list[Problem]):
    if run is None:
        return None, None
    if not run.strip():
        problems.append(Problem("EMPTY_RUN", "`run` is empty; give an image, tag and arguments", label, "run", line))
        return None, None
    try:
        return run, split_run(run)
    except ValueError as exc:  # e.g. "No closing quotation"
        message = f"`run` cannot be split into arguments ({exc}); check its quotes"
        problems.append(Problem("BAD_RUN", message, label, "run", line))
        return None, None


def split_run(run: str) -> list[str]:
    """shlex.split, with a fast path: without quotes or backslashes shlex only splits on
    whitespace, and shlex is most of the time spent validating a large project."""
    if _SHLEX_SPECIAL.search(run):
        return shlex.split(run)
    return _WORD.findall(run)


def _read_needs(needs: list, label: str, line: int | None, problems: list[Problem]) -> list[str]:
    valid = []
    for need in needs:
        if isinstance(need, str):
            valid.append(need)
        else:
            message = f"`needs` entries must be action names, not {need!r}"
            problems.append(Problem("BAD_TYPE", message, label, "needs", line))
    return valid


def _read_outputs(outputs: dict, label: str, line: int | None, problems: list[Problem]):
    levels: dict[str, dict[str, str]] = {}
    unknown = [level for level in outputs if level not in PRIVACY_LEVELS]
    declared = [level for level in PRIVACY_LEVELS if outputs.get(level) is not None]
    for level in unknown:
        message = f"unknown privacy level {level!r}; use one of {', '.join(PRIVACY_LEVELS)}"
        problems.append(Problem("UNKNOWN_PRIVACY_LEVEL", message, label, f"outputs.{level}", line))
    for level in PRIVACY_LEVELS:
        patterns = outputs.get(level)
        if patterns is None:
            continue
        if not isinstance(patterns, dict):
            problems.append(_bad_type(f"outputs.{level}", dict, patterns, label, line))
            continue
        levels[level] = {}
        for output_name, pattern in patterns.items():
            if isinstance(pattern, str):
                levels[level][str(output_name)] = pattern
            else:
                where = f"outputs.{level}.{output_name}"
                problems.append(_bad_type(where, str, pattern, label, line))
    if not declared and not unknown:
        message = f"an action must declare outputs under at least one of {', '.join(PRIVACY_LEVELS)}"
        problems.append(Problem("NO_OUTPUTS", message, label, "outputs", line))
    return levels


def read_expectations(raw: Any, features: Features) -> tuple[int | None, list[Problem]]:
    """The population size dummy data is generated for, per OpenSAFELY's version rules."""
    if not features.version_known:
        return None, []  # the version problem is already reported; its rules cannot be chosen
    if features.no_cohortextractor:
        if raw is None:
            return None, []
        message = "`expectations` is only for cohortextractor (versions before 4); remove it"
        return None, [Problem("EXPECTATIONS_NOT_SUPPORTED", message, field="expectations")]
    if not features.expectations_required:
        return DEFAULT_POPULATION_SIZE, []  # versions 1 and 2 always used the default
    if raw is None:
        message = "version 3 projects need `expectations: {population_size: 1000}`"
        return None, [Problem("MISSING_EXPECTATIONS", message, field="expectations")]
    if not isinstance(raw, dict):
        return None, [_bad_type("expectations", dict, raw)]
    problems = [
        Problem(
            "UNKNOWN_KEY",
            f"unknown key {key!r}; `expectations` has only population_size",
            field=f"expectations.{key}",
        )
        for key in raw
        if key != "population_size"
    ]
    size = raw.get("population_size")
    if size is None:
        message = "`expectations` needs `population_size:`, the number of dummy patients"
        problems.append(Problem("MISSING_POPULATION_SIZE", message, field="expectations.population_size"))
        return None, problems
    try:
        if isinstance(size, bool):
            raise ValueError(size)
        return int(size), problems
    except (TypeError, ValueError, OverflowError):
        message = f"`population_size` must be a whole number, not {size!r}"
        problems.append(Problem("BAD_POPULATION_SIZE", message, field="expectations.population_size"))
        return None, problems


def _bad_type(
    key: str | None, expected: type, value: Any, action: str | None = None, line: int | None = None
) -> Problem:
    what = f"`{key}`" if key else "an action"
    hint = _FIELD_HINTS.get(key or "", "")
    message = f"{what} must be {_TYPE_NAMES[expected]}{hint}, not {type(value).__name__} {value!r:.60}"
    return Problem("BAD_TYPE", message, action, key, line)
