"""Which local interpreter stands in for an action's image: a site's mapping image -> argv prefix.

`python:v2 analysis/x.py` runs as `[sys.executable, "analysis/x.py"]` by default. A site
overrides or extends the defaults with ORCHESTRATOR_IMAGE_MAP, a JSON object whose keys are
`image` or `image:tag` (the more specific wins) and whose values are an argv list or a string.
"""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from orchestrator.pipeline.project import Action

IMAGE_MAP_ENV = "ORCHESTRATOR_IMAGE_MAP"

DEFAULT_IMAGE_MAP: Mapping[str, tuple[str, ...]] = MappingProxyType({"python": (sys.executable,), "r": ("Rscript",)})


class ImageMapError(ValueError):
    """ORCHESTRATOR_IMAGE_MAP (or a mapping given in code) cannot be used."""


@dataclass(frozen=True)
class ImageMap:
    prefixes: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: DEFAULT_IMAGE_MAP)

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, object], defaults: bool = True) -> ImageMap:
        prefixes = dict(DEFAULT_IMAGE_MAP) if defaults else {}
        for image, value in mapping.items():
            prefixes[str(image)] = _argv_prefix(image, value)
        return cls(MappingProxyType(prefixes))

    @classmethod
    def from_json(cls, raw: str) -> ImageMap:
        """The defaults plus a site's JSON map (its ORCHESTRATOR_IMAGE_MAP setting); "" for the defaults alone."""
        raw = raw.strip()
        if not raw:
            return cls()
        try:
            mapping = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ImageMapError(f"{IMAGE_MAP_ENV} is not valid JSON: {exc}") from None
        if not isinstance(mapping, dict):
            raise ImageMapError(f'{IMAGE_MAP_ENV} must be a JSON object such as {{"python": ["python3"]}}')
        return cls.from_mapping(mapping)

    def prefix_for(self, image: str, tag: str) -> tuple[str, ...] | None:
        return self.prefixes.get(f"{image}:{tag}") or self.prefixes.get(image)

    def command_for(self, action: Action) -> tuple[str, ...] | str:
        """The argv to run `action`, or a message saying how to map its image."""
        prefix = self.prefix_for(action.image, action.tag)
        if prefix is None:
            known = ", ".join(sorted(self.prefixes)) or "none"
            return (
                f"image {action.image!r} is not mapped to a local interpreter; configure it in "
                f'{IMAGE_MAP_ENV}, e.g. {IMAGE_MAP_ENV}=\'{{"{action.image}": ["/path/to/program"]}}\''
                f" (mapped now: {known})"
            )
        return (*prefix, *action.args)


def _argv_prefix(image: object, value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        value = shlex.split(value)
    if not isinstance(value, list | tuple) or not value or not all(isinstance(v, str) for v in value):
        raise ImageMapError(
            f"the image map entry for {image!r} must be a non-empty list of strings "
            f"(an argv prefix) or a command string, not {value!r}"
        )
    return tuple(value)
