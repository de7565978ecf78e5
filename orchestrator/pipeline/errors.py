"""Problems found in a project.yaml are values: where (action, field, line), a code, and a message.

Validation collects every problem before anything raises, so a user fixes a file in one pass;
`ProjectError` carries the whole list.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a project file.

    `action` is None for project-level problems; `field` is a dotted path inside the action (or
    the project), e.g. `outputs.moderately_sensitive.table`; `line` is 1-based when known.
    """

    code: str
    message: str
    action: str | None = None
    field: str | None = None
    line: int | None = None

    def describe(self, filename: str = "project.yaml") -> str:
        place = f"{filename}:{self.line}" if self.line else filename
        where = []
        if self.action is not None:
            where.append(f"action {self.action!r}")
        if self.field is not None:
            where.append(f"field {self.field!r}")
        location = ", ".join(where)
        return f"{place}: {location}: {self.message}" if location else f"{place}: {self.message}"

    def __str__(self) -> str:
        return self.describe()


class ProjectError(Exception):
    """A project file that cannot be used, with every problem found in it."""

    def __init__(self, problems: Iterable[Problem], filename: str = "project.yaml"):
        self.problems = list(problems)
        self.filename = filename
        super().__init__(self.summary())

    @property
    def codes(self) -> list[str]:
        return [problem.code for problem in self.problems]

    def summary(self) -> str:
        lines = [problem.describe(self.filename) for problem in self.problems]
        return f"{len(self.problems)} problem(s) in {self.filename}:\n" + "\n".join(lines)
