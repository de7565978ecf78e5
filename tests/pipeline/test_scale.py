"""Large projects validate (no timing asserted here: bench it, don't flake CI on a busy machine)."""

from orchestrator.pipeline import parse_project, topological_order
from tests.pipeline.helpers import chain_project, codes_in, wide_project


def test_a_10000_action_chain_is_valid():
    project = parse_project(chain_project(10_000))
    assert len(project.actions) == 10_000
    assert project.actions["step_9999"].needs == ("step_9998",)
    assert topological_order(project.needs_graph)[-1] == "step_9999"


def test_a_10000_action_wide_project_is_valid():
    project = parse_project(wide_project(10_000))
    assert len(project.actions["report"].needs) == 10_000
    assert project.output_count == 10_001


def test_a_10000_action_chain_closed_into_a_cycle_is_one_problem():
    text = chain_project(10_000).replace("  step_0:\n", "  step_0:\n    needs: [step_9999]\n", 1)
    assert codes_in(text) == ["DEPENDENCY_CYCLE"]


def test_thousands_of_duplicate_outputs_are_each_reported():
    text = chain_project(5_000).replace("output/step_", "output/same").replace("_{i}", "")
    text = "\n".join(line if "table:" not in line else "        table: output/same.csv" for line in text.splitlines())
    assert codes_in(text) == ["DUPLICATE_OUTPUT"] * 4_999
