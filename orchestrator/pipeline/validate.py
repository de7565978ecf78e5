"""The rules an action must follow beyond its shape, as a table run over every action.

Each rule reads one `ActionDraft` (and a shared context for project-wide uniqueness) and yields
problems; none stops at the first. They follow OpenSAFELY's pipeline package per `version:`,
plus our stricter rules: no dependency cycles, no paths outside the workspace, `run_all` is
always reserved, and action names must be safe as directory and file names.
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from orchestrator.pipeline.errors import Problem
from orchestrator.pipeline.features import Features
from orchestrator.pipeline.fields import ActionDraft
from orchestrator.pipeline.graph import find_cycles
from orchestrator.pipeline.patterns import leaves_workspace, pattern_problem

RUN_ALL = "run_all"
# Names become job directories and metadata/<name>.log, so nothing that is a path or an option.
ACTION_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}")
# OpenSAFELY's Action.VERSION_REGEX: image tags are vN[.N...][-pre], dev or latest.
IMAGE_TAG = re.compile(r"(v[\d.]+(-pre)?)|dev|latest")
COHORT_COMMAND = ("cohortextractor", "generate_cohort")
DATASET_IMAGES = ("ehrql", "databuilder")
DATASET_COMMANDS = ("generate-dataset", "generate_dataset")
_MAX_SUGGESTIONS = 20  # close-match search is O(actions); cap it for files full of typos


@dataclass
class RuleContext:
    """What rules share across actions: the version's features, every name, and who owns what
    so far (for the uniqueness rules, which report the second owner)."""

    features: Features
    action_names: set[str]
    run_owner: dict[str, str] = field(default_factory=dict)
    output_owner: dict[str, tuple[str, str]] = field(default_factory=dict)  # -> (action, field)
    suggestions_left: int = _MAX_SUGGESTIONS


ActionRule = Callable[[ActionDraft, RuleContext], Iterable[Problem]]


def _problem(draft: ActionDraft, code: str, field_name: str | None, message: str) -> Problem:
    return Problem(code, message, action=str(draft.name), field=field_name, line=draft.line)


def _image_and_tag(draft: ActionDraft) -> tuple[str, str]:
    image, _, tag = draft.command[0].partition(":") if draft.command else ("", "", "")
    return image, tag


def check_name(draft: ActionDraft, ctx: RuleContext) -> Iterator[Problem]:
    name = draft.name
    if name == RUN_ALL:
        message = "`run_all` is reserved for running every action; give this action another name"
        yield _problem(draft, "RESERVED_ACTION_NAME", None, message)
    elif not isinstance(name, str) or not ACTION_NAME.fullmatch(name):
        message = (
            f"action name {name!r} is not allowed; use letters, digits, '_', '-' and '.', "
            "starting with a letter, digit or '_' (at most 200 characters)"
        )
        yield _problem(draft, "BAD_ACTION_NAME", None, message)


def check_image_tag(draft: ActionDraft, ctx: RuleContext) -> Iterator[Problem]:
    if not draft.command:
        return
    image, tag = _image_and_tag(draft)
    if not image:
        yield _problem(
            draft,
            "BAD_RUN",
            "run",
            "`run` must start with an image name, e.g. `python:v2 analysis/model.py`",
        )
    elif not tag:
        message = f"image `{image}` has no version tag; write it as `{image}:v1` (the one you tested)"
        yield _problem(draft, "MISSING_IMAGE_TAG", "run", message)
    elif not IMAGE_TAG.fullmatch(tag):
        message = f"`{image}:{tag}` has an invalid version tag; use the form :vN, e.g. `{image}:v2`"
        yield _problem(draft, "BAD_IMAGE_TAG", "run", message)
    elif tag == "latest" and ctx.features.no_latest_tag:
        message = f"`{image}:latest` is not allowed from version 5; pin a version, e.g. `{image}:v2`"
        yield _problem(draft, "LATEST_TAG_NOT_ALLOWED", "run", message)


def check_cohortextractor_supported(draft: ActionDraft, ctx: RuleContext) -> Iterator[Problem]:
    image, _ = _image_and_tag(draft)
    if ctx.features.no_cohortextractor and image.startswith("cohortextractor"):
        message = "cohortextractor is not supported from version 4; use `ehrql:v1` or `version: 3`"
        yield _problem(draft, "COHORTEXTRACTOR_NOT_SUPPORTED", "run", message)


def check_output_patterns(draft: ActionDraft, ctx: RuleContext) -> Iterator[Problem]:
    for level, patterns in (draft.outputs or {}).items():
        for output_name, pattern in patterns.items():
            found = pattern_problem(pattern, level)
            if found:
                yield _problem(draft, found[0], f"outputs.{level}.{output_name}", found[1])


def check_generate_cohort_outputs(draft: ActionDraft, ctx: RuleContext) -> Iterator[Problem]:
    image, _ = _image_and_tag(draft)
    if draft.outputs is None or not draft.command or (image, *draft.command[1:2]) != COHORT_COMMAND:
        return
    if len(draft.outputs) != 1:
        levels = len(draft.outputs)
        message = f"a generate_cohort action must declare exactly one privacy level, not {levels}"
        yield _problem(draft, "COHORT_OUTPUT_LEVELS", "outputs", message)
        return
    directories = {str(PurePosixPath(p).parent) for ps in draft.outputs.values() for p in ps.values()}
    explicit_dir = any(arg == "--output-dir" or arg.startswith("--output-dir=") for arg in draft.command)
    if len(directories) > 1 and not explicit_dir:
        message = (
            f"generate_cohort writes to one directory, but the outputs are in {len(directories)} "
            f"({', '.join(sorted(directories))}); move them to one or pass --output-dir"
        )
        yield _problem(draft, "COHORT_OUTPUT_DIRS", "outputs", message)


def check_generate_dataset_outputs(draft: ActionDraft, ctx: RuleContext) -> Iterator[Problem]:
    command = draft.command or []
    image, _ = _image_and_tag(draft)
    is_generate_dataset = image in DATASET_IMAGES and len(command) > 1 and command[1] in DATASET_COMMANDS
    if draft.outputs is None or not is_generate_dataset:
        return
    if draft.outputs.get("moderately_sensitive") or draft.outputs.get("minimally_sensitive"):
        message = "generate-dataset outputs are patient-level data: declare them all highly_sensitive"
        yield _problem(draft, "DATASET_OUTPUT_LEVEL", "outputs", message)
    spec = _output_argument(command)
    if spec is None:
        message = "generate-dataset needs an `--output` argument naming the file it writes"
        yield _problem(draft, "DATASET_OUTPUT_ARG_MISSING", "run", message)
        return
    patterns = list(draft.outputs.get("highly_sensitive", {}).values())
    if not _patterns_match_output(spec, patterns):
        expected = _expected_pattern(spec)
        message = f"outputs {patterns} do not match `--output {spec}` in `run`; declare {expected!r}"
        yield _problem(draft, "DATASET_OUTPUT_MISMATCH", "outputs.highly_sensitive", message)


def check_needs(draft: ActionDraft, ctx: RuleContext) -> Iterator[Problem]:
    for need in draft.needs:
        if need == draft.name:
            yield _problem(
                draft,
                "NEEDS_ITSELF",
                "needs",
                "an action cannot need itself; remove it from `needs`",
            )
        elif " " in need and need not in ctx.action_names:
            fixed = ", ".join(need.split())
            message = f"`needs` entry {need!r} holds several names; separate them with commas: [{fixed}]"
            yield _problem(draft, "NEEDS_NOT_COMMA_SEPARATED", "needs", message)
        elif need not in ctx.action_names:
            yield _problem(
                draft,
                "UNKNOWN_NEED",
                "needs",
                f"needs {need!r}, which is not an action{_suggest(need, ctx)}",
            )


def check_dummy_data_file(draft: ActionDraft, ctx: RuleContext) -> Iterator[Problem]:
    if draft.dummy_data_file and leaves_workspace(draft.dummy_data_file):
        message = f"{draft.dummy_data_file!r} is outside the study; use a path relative to the repository"
        yield _problem(draft, "PATH_OUTSIDE_WORKSPACE", "dummy_data_file", message)


def check_unique_run(draft: ActionDraft, ctx: RuleContext) -> Iterator[Problem]:
    if draft.run is None:
        return
    first = ctx.run_owner.setdefault(draft.run, str(draft.name))
    if first != str(draft.name):
        message = f"runs exactly the same command as action {first!r}; make them differ or remove one"
        yield _problem(draft, "DUPLICATE_RUN", "run", message)


def check_unique_outputs(draft: ActionDraft, ctx: RuleContext) -> Iterator[Problem]:
    if not ctx.features.unique_output_paths:
        return  # version 1 allowed two outputs to share a pattern
    for level, patterns in (draft.outputs or {}).items():
        for output_name, pattern in patterns.items():
            here = (str(draft.name), f"outputs.{level}.{output_name}")
            owner = ctx.output_owner.setdefault(pattern, here)
            if owner != here:
                whose = "this action" if owner[0] == here[0] else f"action {owner[0]!r}"
                message = (
                    f"output pattern {pattern!r} is also declared by {whose} ({owner[1]}); "
                    "each output file belongs to one action"
                )
                yield _problem(draft, "DUPLICATE_OUTPUT", here[1], message)


ACTION_RULES: tuple[ActionRule, ...] = (
    check_name,
    check_image_tag,
    check_cohortextractor_supported,
    check_needs,
    check_output_patterns,
    check_generate_cohort_outputs,
    check_generate_dataset_outputs,
    check_dummy_data_file,
    check_unique_run,
    check_unique_outputs,
)


def validate_actions(drafts: list[ActionDraft], features: Features) -> list[Problem]:
    """Every rule over every action in file order, then dependency cycles."""
    ctx = RuleContext(features, {draft.name for draft in drafts if isinstance(draft.name, str)})
    problems = [problem for draft in drafts for rule in ACTION_RULES for problem in rule(draft, ctx)]
    return problems + cycle_problems(drafts)


def cycle_problems(drafts: list[ActionDraft]) -> list[Problem]:
    needs = {draft.name: draft.needs for draft in drafts if isinstance(draft.name, str)}
    by_name = {draft.name: draft for draft in drafts}
    return [
        _problem(
            by_name[cycle[0]],
            "DEPENDENCY_CYCLE",
            "needs",
            f"dependency cycle {' -> '.join(cycle)}; an action cannot need itself, even indirectly",
        )
        for cycle in find_cycles(needs)
    ]


def _suggest(need: str, ctx: RuleContext) -> str:
    if ctx.suggestions_left <= 0:
        return ""
    ctx.suggestions_left -= 1
    close = difflib.get_close_matches(need, ctx.action_names, n=1, cutoff=0.7)
    return f"; did you mean {close[0]!r}?" if close else ""


# Adapted from OpenSAFELY's validation of ehrQL outputs: `--output dir/:csv` writes one file per
# table into dir/, so any pattern dir/*.csv matches it; a plain file name must match exactly.
def _output_argument(args: list[str]) -> str | None:
    for switch, value in zip(args, [*args[1:], ""], strict=True):
        if switch == "--output":
            return value
        if switch.startswith("--output="):
            return switch[len("--output=") :]
    return None


def _split_directory_and_extension(spec: str) -> tuple[PurePosixPath, str]:
    path = PurePosixPath(spec)
    name, separator, extension = path.name.rpartition(":")
    if not separator:
        return path, ""
    return (path.parent if not name else path.with_name(name)), f".{extension}"


def _patterns_match_output(spec: str, patterns: list[str]) -> bool:
    directory, extension = _split_directory_and_extension(spec)
    if not extension:
        return spec in patterns
    return all(fnmatch.fnmatch(p, f"{directory}/*{extension}") for p in patterns)


def _expected_pattern(spec: str) -> str:
    directory, extension = _split_directory_and_extension(spec)
    return f"{directory}/*{extension}" if extension else spec
