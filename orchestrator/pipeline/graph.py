"""The `needs` graph of a project: cycles, dependency order, and transitive dependencies.

Every function takes `needs`, a mapping of action name to the names it needs, in file order
(`Project.needs_graph`). All walks are iterative, so a 10,000-action chain is no deeper than a
short one; names an action needs that are not keys of `needs` are ignored.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

Needs = Mapping[str, Sequence[str]]


def find_cycles(needs: Needs) -> list[list[str]]:
    """One cycle per group of actions that need each other, as a path: [a, b, a] for a -> b -> a.

    Self-needs are left out (validation reports them on their own). Cycles come in file order of
    their first action, each path starting at that action.
    """
    position = {name: i for i, name in enumerate(needs)}
    cycles = []
    for component in _strongly_connected(needs):
        if len(component) > 1:
            start = min(component, key=position.__getitem__)
            cycles.append(_cycle_through(needs, start, set(component)))
    cycles.sort(key=lambda cycle: position[cycle[0]])
    return cycles


def topological_order(needs: Needs, names: Iterable[str] | None = None) -> list[str]:
    """Actions with every dependency before its dependents; ties keep file order.

    With `names`, only those actions and everything they transitively need. Raises ValueError
    on a cycle (a validated Project has none).
    """
    roots = list(needs) if names is None else list(names)
    done: set[str] = set()
    on_path: set[str] = set()
    order: list[str] = []
    for root in roots:
        if root in done or root not in needs:
            continue
        stack = [(root, iter(needs[root]))]
        on_path.add(root)
        while stack:
            name, pending = stack[-1]
            need = next((n for n in pending if n in needs and n not in done and n != name), None)
            if need is None:
                stack.pop()
                on_path.discard(name)
                done.add(name)
                order.append(name)
            elif need in on_path:
                raise ValueError(f"dependency cycle through {need!r}")
            else:
                on_path.add(need)
                stack.append((need, iter(needs[need])))
    return order


def dependencies_of(needs: Needs, names: Iterable[str]) -> set[str]:
    """Every action that `names` need, directly or through others (not `names` themselves,
    unless one of them needs another)."""
    return _reachable(needs, names)


def dependents_of(needs: Needs, names: Iterable[str]) -> set[str]:
    """Every action that needs one of `names`, directly or through others."""
    reverse: dict[str, list[str]] = {name: [] for name in needs}
    for name, its_needs in needs.items():
        for need in its_needs:
            if need in reverse:
                reverse[need].append(name)
    return _reachable(reverse, names)


def _reachable(edges: Needs, starts: Iterable[str]) -> set[str]:
    found: set[str] = set()
    stack = [start for start in starts if start in edges]
    seen_starts = set(stack)
    while stack:
        for target in edges[stack.pop()]:
            if target in edges and target not in found:
                found.add(target)
                if target not in seen_starts:
                    stack.append(target)
    return found


def _strongly_connected(needs: Needs) -> list[list[str]]:
    """Tarjan's algorithm, iterative."""
    index: dict[str, int] = {}
    lowlink: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components = []
    for root in needs:
        if root in index:
            continue
        work = [(root, iter(needs[root]))]
        index[root] = lowlink[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            name, pending = work[-1]
            need = next((n for n in pending if n in needs), None)
            if need is not None:
                if need not in index:
                    index[need] = lowlink[need] = len(index)
                    stack.append(need)
                    on_stack.add(need)
                    work.append((need, iter(needs[need])))
                elif need in on_stack:
                    lowlink[name] = min(lowlink[name], index[need])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                lowlink[parent] = min(lowlink[parent], lowlink[name])
            if lowlink[name] == index[name]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == name:
                        break
                components.append(component)
    return components


def _cycle_through(needs: Needs, start: str, component: set[str]) -> list[str]:
    """A shortest path start -> ... -> start inside one strongly connected component (BFS)."""
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        next_frontier = []
        for name in frontier:
            for need in needs[name]:
                if need == start and name != start:
                    path = [name]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if need in component and need not in came_from and need != start:
                    came_from[need] = name
                    next_frontier.append(need)
        frontier = next_frontier
    raise AssertionError("a strongly connected component always holds a cycle")
