"""The whole flow from the command line, each person with their own ORCHESTRATOR_HOME: a single-use
token, an airlock login, Level 4 files, a release request, two reviews, the release, the released
file downloaded (sha256 checked), a draft publication and its publishing; a mistake is one error line."""

import json
import re
import subprocess
import sys

from tests.airlock.conftest import TABLE


def run(airlock, tmp_path, as_, *args):
    home = tmp_path / f"home-{as_}"
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "ORCHESTRATOR_HOME": str(home),
        "ORCHESTRATOR_URL": airlock.world.url,
        "ORCHESTRATOR_AIRLOCK_URL": airlock.url,
        "ORCHESTRATOR_USERNAME": as_,
        "ORCHESTRATOR_PASSWORD": airlock.world.passwords[as_],
    }
    return subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def ok(done) -> str:
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def log_in(airlock, tmp_path, person):
    words = json.loads(ok(run(airlock, tmp_path, person, "tokens", "create", "--json")))["token"]
    assert f"logged in as {person}" in ok(run(airlock, tmp_path, person, "airlock", "login", person, "--token", words))


def test_the_release_flow_from_the_command_line(airlock, tmp_path):
    for person in ("developer", "checker", "checker2"):
        log_in(airlock, tmp_path, person)
    dev = lambda *args: run(airlock, tmp_path, "developer", *args)  # noqa: E731
    assert "output/table.csv" in ok(dev("airlock", "files", "alpha-main"))
    shown = ok(dev("airlock", "view", "alpha-main", "output/table.csv"))
    assert "sha256" in shown and "group" in shown and "12" in shown
    assert "wrote output/secret.csv" in ok(dev("airlock", "log", "alpha-main", "prepare"))

    asked = ok(dev("releases", "request", "alpha-main", "-f", "output/table.csv", "the counts"))
    request_id = re.search(r"release request (rr-\w+)", asked).group(1)
    refused = dev("releases", "review", request_id, "output/table.csv", "approve")
    assert (
        refused.returncode == 1
        and refused.stderr.startswith("error: MISSING_ROLE")
        and "Traceback" not in refused.stderr
    )
    for checker in ("checker", "checker2"):
        ok(run(airlock, tmp_path, checker, "releases", "review", request_id, "output/table.csv", "approve", "-m", "ok"))
    assert "released by checker" in ok(run(airlock, tmp_path, "checker", "releases", "release", request_id))

    files = json.loads(ok(dev("releases", "files", "alpha-main", "--json")))
    (file,) = files
    downloaded = ok(dev("releases", "download", str(file["id"]), "-o", str(tmp_path / "table.csv")))
    assert "checked" in downloaded and (tmp_path / "table.csv").read_text() == TABLE
    draft = json.loads(ok(dev("publications", "create", "alpha-main", "--title", "Counts", "--json")))
    assert "published" in ok(run(airlock, tmp_path, "publisher", "publications", "publish", draft["id"]))
    log = ok(dev("releases", "log", "alpha-main"))
    assert "release" in log and "draft" in log and "published" in log


def test_airlock_commands_without_a_login_say_how_to_log_in(airlock, tmp_path):
    done = run(airlock, tmp_path, "developer", "airlock", "files", "alpha-main")
    assert done.returncode == 1 and "LOGIN_REQUIRED" in done.stderr and "orchestrator airlock login" in done.stderr
    wrong = run(airlock, tmp_path, "developer", "airlock", "login", "developer", "--token", "not my words")
    assert wrong.returncode == 1 and wrong.stderr.startswith("error: LOGIN_TOKEN_REFUSED")
