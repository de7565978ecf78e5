"""Which rules apply to which `version:` of project.yaml, as in OpenSAFELY's pipeline package.

A rule is switched on from the version that introduced it, and off after the version that
retired it; an unknown version switches every version-dependent rule off.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

LATEST_VERSION = 5.0
OLDEST_VERSION = 1.0

# feature: (first version it applies to, last version it applies to or None for "still does")
FEATURE_VERSIONS: dict[str, tuple[float, float | None]] = {
    "unique_output_paths": (2, None),
    "expectations_required": (3, 3),
    "no_cohortextractor": (4, None),
    "no_latest_tag": (5, None),
}


@dataclass(frozen=True)
class Features:
    unique_output_paths: bool = False
    expectations_required: bool = False
    no_cohortextractor: bool = False
    no_latest_tag: bool = False
    version_known: bool = False


def features_for(version: float | None) -> Features:
    if version is None:
        return Features()
    switched_on = {
        name: first <= version and (last is None or version <= last) for name, (first, last) in FEATURE_VERSIONS.items()
    }
    return Features(**switched_on, version_known=True)


assert set(FEATURE_VERSIONS) | {"version_known"} == {f.name for f in fields(Features)}
