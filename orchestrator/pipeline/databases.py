"""Which actions may touch a database, and which database they get: OpenSAFELY's rule.

Only a database action (`is_database_action`) is given `DATABASE_URL`, for the database its job
request names; a site maps database names to URLs (ORCHESTRATOR_DATABASES). Every other action
runs with no database at all.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

DATABASES_ENV = "ORCHESTRATOR_DATABASES"
# As workspace names: a plain word a site admin types into ORCHESTRATOR_DATABASES.
DATABASE_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"

# OpenSAFELY's DB_COMMANDS (opensafely-core/pipeline, pipeline/models.py): image -> the commands
# that are given database access ("*": any command). Everything else runs without a database.
DATABASE_COMMANDS: Mapping[str, tuple[str, ...] | str] = MappingProxyType(
    {
        "ehrql": ("generate-dataset", "generate-measures"),
        "sqlrunner": "*",
        "cohortextractor": ("generate_cohort", "generate_codelist_report"),
        "databuilder": ("generate-dataset",),
    }
)


def is_database_action(image: str, args: Sequence[str]) -> bool:
    """Whether an action whose `run` is `image:tag *args` gets a database.

    As OpenSAFELY's `is_database_action`: by the image (without its tag) and the first argument,
    the command. `ehrql:v1 generate-dataset ...` and `sqlrunner:latest query.sql` do;
    `ehrql:v1 dump-dataset-sql ...`, `cohortextractor:latest generate_measures ...` (it reads the
    cohort files, not the database) and `python:v2 ...` do not; nor does an image with no command.
    """
    commands = DATABASE_COMMANDS.get(image.split(":", 1)[0])
    if commands is None:
        return False
    if commands == "*":
        return True
    return bool(args) and args[0] in commands


class DatabaseMapError(ValueError):
    """ORCHESTRATOR_DATABASES cannot be used."""


@dataclass(frozen=True)
class DatabaseMap:
    """A site's databases: name -> URL. The URLs are secrets: never logged, never in a message."""

    urls: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def from_json(cls, raw: str) -> DatabaseMap:
        """The site's ORCHESTRATOR_DATABASES, e.g. '{"full": "postgresql://...", "sample": "..."}'; "" for none."""
        raw = raw.strip()
        if not raw:
            return cls()
        try:
            mapping = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise DatabaseMapError(f"{DATABASES_ENV} is not valid JSON: {exc}") from None
        if not isinstance(mapping, dict):
            raise DatabaseMapError(f'{DATABASES_ENV} must be a JSON object such as {{"full": "postgresql://..."}}')
        bad = sorted(
            repr(name)
            for name, url in mapping.items()
            if not re.fullmatch(DATABASE_NAME_PATTERN, name) or not isinstance(url, str) or not url.strip()
        )
        if bad:
            raise DatabaseMapError(
                f"{DATABASES_ENV}: each name must be a plain word (letters, digits, . _ -) mapped to a "
                f"non-empty URL string; not so for {', '.join(bad)}"
            )
        return cls(MappingProxyType(dict(mapping)))

    @property
    def names(self) -> list[str]:
        return sorted(self.urls)

    def url_for(self, name: str) -> str | None:
        return self.urls.get(name)

    def unknown_database_message(self, name: str, actions: Iterable[str]) -> str | None:
        """None if the site maps `name`; else what a user and the site's admin need to know."""
        if name in self.urls:
            return None
        known = ", ".join(self.names) if self.urls else f"none ({DATABASES_ENV} is not set)"
        return (
            f"database action(s) {', '.join(actions)} need database {name!r}, which this site does not "
            f"have; its databases: {known}. Ask for one of those in the job request, or have the site "
            f'map it: {DATABASES_ENV}=\'{{"{name}": "postgresql://..."}}\''
        )
