"""`.ci/run` refuses to run the suite without the corpus, so CI never silently skips its tests."""

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_ci_run_stops_when_the_corpus_is_missing(tmp_path):
    env = {**os.environ, "ORCHESTRATOR_CORPUS_DIR": str(tmp_path / "nowhere")}
    done = subprocess.run(["bash", ".ci/run"], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert f"no corpus at {tmp_path / 'nowhere'}/project-yaml" in done.stderr
