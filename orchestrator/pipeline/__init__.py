"""The OpenSAFELY-style pipeline: parse and validate project.yaml, then plan and run its actions.

Import from here: `load_project`, `parse_project`, the `Project`/`Action` values, `ProjectError`
with its `Problem`s, the `needs` graph helpers and `check_project`; to run actions, `plan_actions`,
`run_plan`/`run_request` with a `Workspace` (`CancelRequests` to cancel single actions as they run,
a `DatabaseMap` for database actions), and `pack_directory`/`extract_study` for study archives.
"""

from orchestrator.pipeline.archive import UnsafeArchiveError, extract_study, pack_directory
from orchestrator.pipeline.check import CheckResult, check_project
from orchestrator.pipeline.databases import DatabaseMap, DatabaseMapError, is_database_action
from orchestrator.pipeline.engine import ActionEvent, CancelRequests, RunResult, run_plan, run_request
from orchestrator.pipeline.errors import Problem, ProjectError
from orchestrator.pipeline.execute import ActionHandle, ActionRun, Limits, run_action
from orchestrator.pipeline.graph import (
    dependencies_of,
    dependents_of,
    find_cycles,
    topological_order,
)
from orchestrator.pipeline.images import ImageMap, ImageMapError
from orchestrator.pipeline.level4 import level4_problems
from orchestrator.pipeline.plan import Decision, Plan, PlanError, PlannedAction, plan_actions
from orchestrator.pipeline.project import (
    Action,
    Expectations,
    Project,
    load_project,
    parse_project,
    validate_project_source,
)
from orchestrator.pipeline.status import ActionResult, OutputFile, State, StatusCode
from orchestrator.pipeline.workspace import ActionRecord, Workspace, WorkspaceState

__all__ = [
    "Action",
    "ActionEvent",
    "ActionHandle",
    "ActionRecord",
    "ActionResult",
    "ActionRun",
    "CancelRequests",
    "CheckResult",
    "DatabaseMap",
    "DatabaseMapError",
    "Decision",
    "Expectations",
    "ImageMap",
    "ImageMapError",
    "Limits",
    "OutputFile",
    "Plan",
    "PlanError",
    "PlannedAction",
    "Problem",
    "Project",
    "ProjectError",
    "RunResult",
    "State",
    "StatusCode",
    "UnsafeArchiveError",
    "Workspace",
    "WorkspaceState",
    "check_project",
    "dependencies_of",
    "dependents_of",
    "extract_study",
    "find_cycles",
    "is_database_action",
    "level4_problems",
    "load_project",
    "pack_directory",
    "parse_project",
    "plan_actions",
    "run_action",
    "run_plan",
    "run_request",
    "topological_order",
    "validate_project_source",
]
