"""The README's "Add a workflow" guide applied literally to a copy of the repository, for the site
tests and the benchmarks alike: `graph` follows its steps, `light` puts the batch version of echo
(its "Light workflows run in batches" section) in place of step 1's module and registry entry."""

import re
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
GUIDES = ("graph", "light")


class GuideError(Exception):
    """The README's guide no longer applies as written (its blocks or the registry changed shape)."""


def readme_blocks(language: str, section: str = "## Add a workflow") -> list[str]:
    text = (REPO / "README.md").read_text().split(section, 1)[1]
    text = re.split(r"^## ", text, maxsplit=1, flags=re.M)[0]  # this section (and its subsections) only
    return re.findall(rf"```{language}\n(.*?)```", text, re.S)


def apply_guide(target: Path, guide: str = "graph") -> None:
    """Add echo-1.0.0 and its `note` trigger to the repository copy at `target`."""
    blocks = readme_blocks("python")
    module, registry_line = blocks[:2] if guide == "graph" else blocks[2:4]
    (target / "orchestrator" / "workflows" / "echo.py").write_text(module)
    registry = target / "orchestrator" / "workflows" / "__init__.py"
    # The registry's own import line gains `echo`, whatever else it imports.
    patched = re.sub(
        r"^from orchestrator\.workflows import (.+)$",
        lambda m: "from orchestrator.workflows import " + ", ".join(sorted({*m[1].split(", "), "echo"})),
        registry.read_text(),
        count=1,
        flags=re.M,
    )
    patched = patched.replace("    for spec in [\n", "    for spec in [\n" + registry_line, 1)
    if not re.search(r"^from orchestrator\.workflows import .*\becho\b", patched, re.M) or registry_line not in patched:
        raise GuideError("could not apply the README's registry change to orchestrator/workflows/__init__.py")
    registry.write_text(patched)
    (target / "triggers" / "note.yaml").write_text(readme_blocks("yaml")[0])


def make_site_copy(target: Path, guide: str | None = "graph") -> Path:
    """Copy what a site runs into `target`; apply the README's guide (`graph` or `light`) unless None."""
    if guide not in (*GUIDES, None):
        raise ValueError(f"guide must be one of {GUIDES} or None, not {guide!r}")
    shutil.copytree(REPO / "orchestrator", target / "orchestrator", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "triggers", target / "triggers")
    for name in ("workspace.yaml", "dagster.yaml"):
        shutil.copy(REPO / name, target / name)
    if guide:
        apply_guide(target, guide)
    return target
