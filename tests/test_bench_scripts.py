"""Every benchmark of `make bench` still starts: each script's --help, run as `make bench` runs it,
imports all it uses (a renamed store statement once broke bench/claims.py without a test noticing)."""

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conftest import REPO_ROOT

SCRIPTS = sorted(path.name for path in (REPO_ROOT / "bench").glob("[a-z]*.py"))


def _help(script: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, f"bench/{script}", "--help"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def helps() -> dict[str, subprocess.CompletedProcess]:
    with ThreadPoolExecutor(4) as pool:
        return dict(zip(SCRIPTS, pool.map(_help, SCRIPTS), strict=True))


def test_make_bench_runs_every_script():
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert [script for script in SCRIPTS if f"bench/{script}" not in makefile] == []


@pytest.mark.parametrize("script", SCRIPTS)
def test_the_benchmark_starts(helps, script):
    result = helps[script]
    assert result.returncode == 0 and result.stdout.startswith("usage:"), result.stderr[-2000:]
