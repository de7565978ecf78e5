"""The service units in deploy/: `systemd-analyze verify` finds nothing to say about them once their
/opt/orchestrator is this checkout (it checks that each ExecStart exists), and a broken copy is caught;
each restarts on failure and reads the `.env` file; each command line is one its program accepts."""

import shlex
import subprocess
from pathlib import Path

from tests.conftest import REPO_ROOT

UNITS = sorted((REPO_ROOT / "deploy").glob("*.service"))
INSTALLED_AT = "/opt/orchestrator"


def here(unit: Path, target: Path) -> Path:
    copy = target / unit.name
    copy.write_text(unit.read_text().replace(INSTALLED_AT, str(REPO_ROOT)))
    return copy


def verify(*units: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["systemd-analyze", "verify", *map(str, units)], capture_output=True, text=True, timeout=120)


def test_the_units_are_the_four_services():
    assert [u.name for u in UNITS] == [
        "dagster-daemon.service",
        "dagster-webserver.service",
        "orchestrator-airlock.service",
        "orchestrator-runtime.service",
    ]


def test_systemd_analyze_verify_accepts_every_unit_and_catches_a_broken_one(tmp_path):
    copies = [here(unit, tmp_path) for unit in UNITS]
    checked = verify(*copies)
    assert checked.returncode == 0 and checked.stdout + checked.stderr == "", checked.stderr
    broken = tmp_path / "broken.service"
    broken.write_text(copies[0].read_text().replace("Restart=on-failure", "Restart=sometimes"))
    missing = tmp_path / "missing.service"
    missing.write_text(copies[0].read_text().replace(".venv/bin/dagster-daemon", ".venv/bin/no-such-program"))
    assert "Failed to parse service restart specifier" in verify(broken).stderr
    assert verify(missing).returncode != 0


def test_each_unit_restarts_on_failure_reads_dotenv_and_runs_a_real_command():
    for unit in UNITS:
        lines = unit.read_text().splitlines()
        assert "Restart=on-failure" in lines, unit.name
        assert f"EnvironmentFile=-{INSTALLED_AT}/.env" in lines, unit.name
        assert f"WorkingDirectory={INSTALLED_AT}" in lines, unit.name
        (exec_start,) = [line.split("=", 1)[1] for line in lines if line.startswith("ExecStart=")]
        argv = [part.replace(INSTALLED_AT, str(REPO_ROOT)) for part in shlex.split(exec_start)]
        # --help after every option: the program parses them all (an unknown one is an error), then stops.
        helped = subprocess.run([*argv, "--help"], capture_output=True, text=True, timeout=120, cwd=REPO_ROOT)
        assert helped.returncode == 0, (unit.name, helped.stderr)
