"""The needs graph: cycles (short, long, several), dependency order and transitive closures."""

import pytest

from orchestrator.pipeline import dependencies_of, dependents_of, find_cycles, topological_order
from tests.pipeline.helpers import problems_in

DIAMOND = {
    "extract": [],
    "clean": ["extract"],
    "model": ["clean"],
    "plots": ["clean"],
    "report": ["model", "plots"],
}


def test_no_cycles_in_a_diamond():
    assert find_cycles(DIAMOND) == []


def test_two_and_three_action_cycles_are_paths_from_their_first_action():
    needs = {"a": ["b"], "b": ["a"], "c": [], "x": ["z"], "y": ["x"], "z": ["y"], "solo": ["solo"]}
    assert find_cycles(needs) == [["a", "b", "a"], ["x", "z", "y", "x"]]


def test_the_shortest_cycle_through_the_first_action_is_reported():
    needs = {"a": ["b", "d"], "b": ["c"], "c": ["a"], "d": ["a"]}
    assert find_cycles(needs) == [["a", "d", "a"]]


def test_a_10000_action_cycle():
    n = 10_000
    needs = {f"s{i}": [f"s{(i + 1) % n}"] for i in range(n)}
    (cycle,) = find_cycles(needs)
    assert len(cycle) == n + 1 and cycle[0] == cycle[-1] == "s0"


def test_a_cycle_in_a_project_names_its_path():
    problems = problems_in(
        """\
        version: 4
        actions:
          a:
            run: python:v2 a.py
            needs: [c]
            outputs: {highly_sensitive: {t: output/a.csv}}
          b:
            run: python:v2 b.py
            needs: [a]
            outputs: {highly_sensitive: {t: output/b.csv}}
          c:
            run: python:v2 c.py
            needs: [b]
            outputs: {highly_sensitive: {t: output/c.csv}}
        """
    )
    assert [(p.code, p.action, p.field) for p in problems] == [("DEPENDENCY_CYCLE", "a", "needs")]
    assert "a -> c -> b -> a" in problems[0].message


def test_topological_order_puts_needs_first_and_keeps_file_order_for_ties():
    assert topological_order(DIAMOND) == ["extract", "clean", "model", "plots", "report"]
    assert topological_order(DIAMOND, ["plots"]) == ["extract", "clean", "plots"]


def test_topological_order_refuses_a_cycle():
    with pytest.raises(ValueError, match="cycle"):
        topological_order({"a": ["b"], "b": ["a"]})


def test_dependencies_and_dependents_are_transitive():
    assert dependencies_of(DIAMOND, ["report"]) == {"extract", "clean", "model", "plots"}
    assert dependencies_of(DIAMOND, ["model", "clean"]) == {"extract", "clean"}
    assert dependents_of(DIAMOND, ["clean"]) == {"model", "plots", "report"}
    assert dependencies_of(DIAMOND, ["not-an-action"]) == set()


def test_a_10000_action_chain_does_not_recurse():
    n = 10_000
    needs = {f"s{i}": [f"s{i - 1}"] if i else [] for i in range(n)}
    assert topological_order(needs, [f"s{n - 1}"])[:3] == ["s0", "s1", "s2"]
    assert len(dependencies_of(needs, [f"s{n - 1}"])) == n - 1
    assert len(dependents_of(needs, ["s0"])) == n - 1
