"""Turn the bytes of a project.yaml into Python values, or into problems a user can act on.

Beyond PyYAML's safe loading: duplicate keys are reported (PyYAML silently keeps the last), as
are tabs, merge-conflict markers and binary files; `yes`/`on`/`no` stay strings as in YAML 1.2,
which OpenSAFELY's parser follows. The line of each action is kept for messages.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import yaml

from orchestrator.pipeline.errors import Problem

# libyaml's composer recurses in C and can crash the interpreter on absurd nesting, so such
# input goes to the pure-Python loader, which fails with a catchable RecursionError instead.
_FAST_LOADER_MAX_DEPTH = 1000
_BOOL_1_2 = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_CONFLICT_MARKER = re.compile(r"^(<{7}|={7}|>{7})(?: |$)", re.MULTILINE)
_MERGE_TAG = "tag:yaml.org,2002:merge"
_NULL_TAG = "tag:yaml.org,2002:null"
_STR_TAG, _SEQ_TAG, _MAP_TAG = "tag:yaml.org,2002:str", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:map"


def _yaml_1_2_resolvers(base: type) -> dict:
    dropped = {"tag:yaml.org,2002:bool", "tag:yaml.org,2002:value"}
    return {
        first: [(tag, rx) for tag, rx in resolvers if tag not in dropped]
        for first, resolvers in base.yaml_implicit_resolvers.items()
    }


def _make_loader(base: type) -> type:
    loader = type(f"Project{base.__name__}", (base,), {})
    loader.yaml_implicit_resolvers = _yaml_1_2_resolvers(base)
    loader.add_implicit_resolver("tag:yaml.org,2002:bool", _BOOL_1_2, list("tTfF"))
    return loader


_PURE_LOADER = _make_loader(yaml.SafeLoader)
_FAST_LOADER = _make_loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader))


@dataclass
class YamlDocument:
    """What the loader found: the data (None if unusable), problems, and each action's line."""

    data: Any = None
    problems: list[Problem] = field(default_factory=list)
    action_lines: dict[str, int] = field(default_factory=dict)


def load_yaml(source: str | bytes) -> YamlDocument:
    text, problem = _decode(source)
    if problem:
        return YamlDocument(problems=[problem])
    conflicts = [m.start() for m in _CONFLICT_MARKER.finditer(text)]
    if conflicts and re.search(r"^(<{7}|>{7})", text, re.MULTILINE):
        lines = [text.count("\n", 0, offset) + 1 for offset in conflicts]
        message = (
            f"unresolved git merge-conflict markers on lines {_list_lines(lines)}; "
            "resolve the conflict and remove the markers"
        )
        return YamlDocument(problems=[Problem("MERGE_CONFLICT", message, line=lines[0])])
    loader_class = _loader_for(text)
    try:
        try:
            return _compose(text, loader_class)
        except yaml.YAMLError:
            if loader_class is _PURE_LOADER:
                raise
            # PyYAML's pure-Python messages name the construct being parsed; libyaml's are terser
            return _compose(text, _PURE_LOADER)
    except yaml.YAMLError as exc:
        return YamlDocument(problems=[_syntax_problem(exc, text)])
    except RecursionError:
        message = "the YAML is nested too deeply to be a project file"
        return YamlDocument(problems=[Problem("YAML_SYNTAX", message)])


@contextmanager
def garbage_collection_paused() -> Iterator[None]:
    """Reading a big project.yaml allocates millions of acyclic objects; the collector scanning
    them again and again made loading ~4x slower, so it waits until the reading is done."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _compose(text: str, loader_class: type) -> YamlDocument:
    loader = loader_class(text)
    try:
        with garbage_collection_paused():
            root = loader.get_single_node()
            if root is None or (isinstance(root, yaml.ScalarNode) and root.tag == _NULL_TAG):
                return YamlDocument(problems=[_empty_file()])
            if not isinstance(root, yaml.MappingNode):
                return YamlDocument(problems=[_not_a_mapping(root)])
            problems, action_lines = _scan_keys(root)
            data = _construct(loader, root)
    finally:
        loader.dispose()
    return YamlDocument(data=data, problems=problems, action_lines=action_lines)


def _construct(loader: yaml.BaseLoader, root: yaml.Node) -> Any:
    try:
        return _build(loader, root, {})
    except (ValueError, TypeError, AttributeError, OverflowError) as exc:
        # PyYAML's constructors fail this way on explicit tags with bad values (`!!int abc`,
        # `!!timestamp 2020`); a project file never needs such tags.
        message = f"a value could not be read ({type(exc).__name__}: {exc}); remove any explicit !!tags"
        raise yaml.YAMLError(message) from exc


def _build(loader: yaml.BaseLoader, node: yaml.Node, built: dict[int, Any]) -> Any:
    """What `loader.construct_document` makes of `node`, several times faster for what project files
    hold: plain strings, lists and maps of them (PyYAML calls its generic constructor machinery for
    every node). Any other scalar tag, and maps with merge keys or non-scalar keys, go to PyYAML's own
    constructors, so the result is the same. `built` keeps anchors/aliases the same object."""
    known = built.get(id(node))
    if known is not None:
        return known
    if isinstance(node, yaml.ScalarNode):
        value = node.value if node.tag == _STR_TAG else loader.construct_object(node, deep=True)
    elif isinstance(node, yaml.SequenceNode) and node.tag == _SEQ_TAG:
        value = built[id(node)] = []
        value.extend(_build(loader, item, built) for item in node.value)
    elif (
        isinstance(node, yaml.MappingNode)
        and node.tag == _MAP_TAG
        and all(isinstance(key, yaml.ScalarNode) and key.tag != _MERGE_TAG for key, _ in node.value)
    ):
        value = built[id(node)] = {}
        for key, item in node.value:
            value[_build(loader, key, built)] = _build(loader, item, built)
    else:
        value = loader.construct_object(node, deep=True)
    built[id(node)] = value
    return value


def _decode(source: str | bytes) -> tuple[str, Problem | None]:
    if isinstance(source, str):
        text = source
    else:
        try:
            text = source.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            message = (
                f"this is not a text file (byte 0x{source[exc.start]:02x} at offset {exc.start} "
                "is not UTF-8); project.yaml must be UTF-8 text"
            )
            return "", Problem("NOT_TEXT", message)
    if "\x00" in text:
        message = "this is not a text file (it contains NUL bytes); project.yaml must be UTF-8 text"
        return "", Problem("NOT_TEXT", message)
    return text.lstrip("\ufeff"), None


def _loader_for(text: str) -> type:
    deepest_indent = max((len(line) - len(line.lstrip(" ")) for line in text.splitlines()), default=0)
    depth = deepest_flow = 0
    for bracket in re.sub(r"[^\[\]{}]+", "", text):  # only brackets: short even for big files
        depth += 1 if bracket in "[{" else -1
        deepest_flow = max(deepest_flow, depth)
    too_deep = deepest_indent + deepest_flow > _FAST_LOADER_MAX_DEPTH
    return _PURE_LOADER if too_deep else _FAST_LOADER


def _scan_keys(root: yaml.MappingNode) -> tuple[list[Problem], dict[str, int]]:
    """Find duplicate keys anywhere, and the line of every action, without recursion."""
    problems: list[Problem] = []
    action_lines: dict[str, int] = {}
    actions_node = _value_of(root, "actions")
    visited: set[int] = set()
    stack: list[tuple[yaml.Node, tuple[str, ...]]] = [(root, ())]
    while stack:
        node, path = stack.pop()
        if id(node) in visited:  # anchors and aliases share nodes
            continue
        visited.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            stack.extend(
                (item, (*path, str(i))) for i, item in enumerate(node.value) if not isinstance(item, yaml.ScalarNode)
            )
        elif isinstance(node, yaml.MappingNode):
            is_actions = node is actions_node
            pairs = [
                (key_node, value_node)
                for key_node, value_node in node.value
                if isinstance(key_node, yaml.ScalarNode) and key_node.tag != _MERGE_TAG
            ]
            if is_actions:
                for key_node, _ in pairs:
                    action_lines.setdefault(key_node.value, key_node.start_mark.line + 1)
            keys = {(key_node.tag, key_node.value) for key_node, _ in pairs}
            if len(keys) != len(pairs):  # rare: only then is it worth collecting the lines of each key
                lines_of: dict[tuple[str, str], list[int]] = {}
                for key_node, _ in pairs:
                    lines_of.setdefault((key_node.tag, key_node.value), []).append(key_node.start_mark.line + 1)
                problems.extend(
                    _duplicate(path, key, lines, is_actions) for (_, key), lines in lines_of.items() if len(lines) > 1
                )
            stack.extend(
                (value_node, (*path, key_node.value))
                for key_node, value_node in pairs
                if not isinstance(value_node, yaml.ScalarNode)
            )  # scalars hold no keys
    problems.sort(key=lambda problem: problem.line or 0)
    return problems, action_lines


def _value_of(mapping: yaml.MappingNode, key: str) -> yaml.Node | None:
    for key_node, value_node in mapping.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
            return value_node
    return None


def _duplicate(path: tuple[str, ...], key: str, lines: list[int], is_action: bool) -> Problem:
    where = (
        f"{len(lines)} times (lines {_list_lines(lines)})"
        if len(lines) > 2
        else f"twice (lines {lines[0]} and {lines[1]})"
    )
    if is_action:
        message = f"action {key!r} is defined {where}; rename or remove all but one"
        return Problem("DUPLICATE_ACTION", message, action=key, line=lines[1])
    message = f"key {key!r} appears {where}; keep only one"
    if len(path) >= 2 and path[0] == "actions":
        return Problem(
            "DUPLICATE_KEY",
            message,
            action=path[1],
            field=".".join((*path[2:], key)),
            line=lines[1],
        )
    return Problem("DUPLICATE_KEY", message, field=".".join((*path, key)), line=lines[1])


def _syntax_problem(exc: yaml.YAMLError, text: str) -> Problem:
    mark = getattr(exc, "problem_mark", None)
    line = mark.line + 1 if mark else None
    problem = getattr(exc, "problem", None) or str(exc)
    if mark and _char_at(text, mark.line, mark.column) == "\t":
        tab_lines = [n for n, row in enumerate(text.splitlines(), 1) if "\t" in row[: len(row) - len(row.lstrip())]]
        message = (
            f"tab character used for indentation on line(s) {_list_lines(tab_lines or [line])}; "
            "YAML must be indented with spaces"
        )
        return Problem("YAML_TAB", message, line=line)
    where = f"line {line}, column {mark.column + 1}: " if mark else ""
    context_mark = getattr(exc, "context_mark", None)
    context = getattr(exc, "context", None)
    started = f" ({context} that starts on line {context_mark.line + 1})" if context and context_mark else ""
    message = f"invalid YAML at {where}{problem}{started}. {_hint_for(problem)}".rstrip()
    return Problem("YAML_SYNTAX", message, line=line)


def _char_at(text: str, line: int, column: int) -> str:
    rows = text.splitlines()
    return rows[line][column : column + 1] if line < len(rows) else ""


_HINTS = {
    "mapping values are not allowed": "A value holds ': ' (quote it) or a line is mis-indented.",
    "expected <block end>": "Check the indentation of this line against the lines above it.",
    "did not find expected key": "Check the indentation of this line against the lines above it.",
    "could not find expected ':'": "Lines of a mapping are `key: value`; look for stray text.",
    "found duplicate anchor": "Each &anchor name may be defined once.",
}


def _hint_for(problem: str) -> str:
    return next((hint for fragment, hint in _HINTS.items() if fragment in problem), "")


def _list_lines(lines: list[int | None]) -> str:
    shown = [str(n) for n in lines[:10] if n is not None]
    return ", ".join(shown) + (f" and {len(lines) - 10} more" if len(lines) > 10 else "")


def _empty_file() -> Problem:
    message = "the file is empty; a project file needs at least `version:` and `actions:`"
    return Problem("EMPTY_FILE", message)


def _not_a_mapping(root: yaml.Node) -> Problem:
    kind = "a list" if isinstance(root, yaml.SequenceNode) else "a single value"
    message = f"the file holds {kind}; a project file must be a mapping with `version:` and `actions:`"
    return Problem("NOT_A_MAPPING", message, line=root.start_mark.line + 1)
