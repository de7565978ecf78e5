"""Where the real-world test inputs live: ORCHESTRATOR_CORPUS_DIR, else ../shared/corpus beside the
repository. They are read in place, never copied into the project. A clone without them skips the
corpus tests with one line saying so; .ci/run refuses to start without them, so CI never skips."""

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def corpus_dir() -> Path:
    configured = os.environ.get("ORCHESTRATOR_CORPUS_DIR")
    return Path(configured).resolve() if configured else (REPO.parent / "shared" / "corpus").resolve()


PROJECT_YAML_DIR = corpus_dir() / "project-yaml"
PROJECT_YAML_FILES = sorted(PROJECT_YAML_DIR.glob("*.yaml"))

requires_corpus = pytest.mark.skipif(
    not PROJECT_YAML_FILES,
    reason=f"no corpus at {PROJECT_YAML_DIR} (set ORCHESTRATOR_CORPUS_DIR or put shared/ beside the repository)",
)
