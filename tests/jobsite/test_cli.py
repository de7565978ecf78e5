"""`orchestrator projects|workspaces|requests ...` against a live server: tables for people, JSON for
scripts, and one clear error line (never a traceback) for a mistake."""

import json
import subprocess
import sys


def run(world, tmp_path, *args, as_="developer"):
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "ORCHESTRATOR_HOME": str(tmp_path / "cli-home"),
        "ORCHESTRATOR_URL": world.url,
        "ORCHESTRATOR_USERNAME": as_,
        "ORCHESTRATOR_PASSWORD": world.passwords[as_],
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


def test_projects_workspaces_and_requests_from_the_command_line(world, tmp_path):
    listed = ok(run(world, tmp_path, "projects", "list"))
    assert (
        listed.splitlines()[0].split() == ["SLUG", "STATUS", "ORG", "NAME"] and "alpha" in listed and "beta" in listed
    )
    assert [p["slug"] for p in json.loads(ok(run(world, tmp_path, "projects", "list", "--json")))] == ["alpha", "beta"]
    ok(run(world, tmp_path, "projects", "create", "gamma", "--name", "Gamma", "--org", "Org", as_="admin"))
    created = ok(
        run(
            world,
            tmp_path,
            "workspaces",
            "create",
            "alpha",
            "alpha-two",
            "--repo",
            world.repo.url,
            "--site",
            "site-b",
            "--database",
            "sample",
        )
    )
    assert "workspace alpha-two created at site site-b" in created
    assert "alpha-two" in ok(run(world, tmp_path, "workspaces", "list", "alpha"))

    submitted = ok(run(world, tmp_path, "requests", "submit", "alpha-main", "report", "-f", "--json"))
    request = json.loads(submitted)
    assert request["requested_actions"] == ["report"] and request["force_run_dependencies"] is True
    assert request["commit"] == world.repo.head()
    assert request["id"] in ok(run(world, tmp_path, "requests", "list"))
    shown = ok(run(world, tmp_path, "requests", "show", request["id"]))
    assert f"job request {request['id']}  pending" in shown and "(force-run dependencies)" in shown
    partly = ok(run(world, tmp_path, "requests", "cancel", request["id"], "report"))
    assert "cancel requested for action(s) report of job request" in partly
    assert world.store.get_job(request["job_id"]).cancelled_parts == ["report"]
    whole = ok(run(world, tmp_path, "requests", "cancel", request["id"]))
    assert "cancelled" in whole and world.store.get_job(request["job_id"]).status == "cancelled"
    ok(run(world, tmp_path, "workspaces", "archive", "alpha-two"))


def test_mistakes_are_one_clear_line(world, tmp_path):
    cases = [
        (("requests", "submit", "no-such-workspace", "report"), "developer", "WORKSPACE_NOT_FOUND"),
        (("requests", "submit", "alpha-main", "nope"), "developer", "UNKNOWN_ACTIONS"),
        (("requests", "submit", "alpha-main", "report"), "collaborator", "MISSING_ROLE"),
        (("projects", "create", "delta", "--name", "D", "--org", "O"), "developer", "MISSING_ROLE"),
        (("requests", "show", "jr-missing"), "developer", "JOB_REQUEST_NOT_FOUND"),
    ]
    for args, as_, code in cases:
        done = run(world, tmp_path, *args, as_=as_)
        assert done.returncode == 1, (args, done.stdout, done.stderr)
        assert done.stderr.startswith(f"error: {code}: ") and "Traceback" not in done.stderr, done.stderr


def test_a_single_use_token_from_the_command_line(world, tmp_path):
    out = ok(run(world, tmp_path, "tokens", "create", as_="checker"))
    first_line = out.splitlines()[0]
    assert first_line.startswith("single-use token for checker: ") and "works once" in out
    words = first_line.split(": ", 1)[1]
    assert len(words.split()) == 3
    again = json.loads(ok(run(world, tmp_path, "tokens", "create", "--json", as_="checker")))
    assert again["username"] == "checker" and again["token"] != words
    redeemed = world.call(
        "POST", "/api/login-tokens:redeem", as_="site-a", json={"username": "checker", "token": words}
    )
    assert redeemed.status_code == 403  # the second token replaced the first
    redeemed = world.call(
        "POST", "/api/login-tokens:redeem", as_="site-a", json={"username": "checker", "token": again["token"]}
    )
    assert redeemed.status_code == 200 and redeemed.json()["roles"] == ["OutputChecker"]
