"""Level 4 files at the airlock: a ProjectDeveloper who logged in with a single-use token lists and opens
their workspace's level4/ files (CSV as a table, text, images, with size and sha256) and action logs;
nobody else does, and no path (../, absolute, encoded) or planted symlink reaches anything else."""

import hashlib
import os

import pytest

from orchestrator.airlock.files import WorkspaceFiles
from orchestrator.runtime.errors import NotFound
from tests.airlock.conftest import PNG, TABLE
from tests.utils.api import assert_error


def test_a_developer_lists_and_opens_level4_files(airlock):
    listed = airlock.call("GET", "/api/workspaces/alpha-main/files")
    assert listed.status_code == 200, listed.text
    assert [(f["path"], f["kind"]) for f in listed.json()] == [
        ("output/notes.txt", "text"),
        ("output/table.csv", "csv"),
        ("output/figures/plot.png", "image"),
    ]  # the planted symlinks (to a highly_sensitive output, /etc/passwd, a directory) are not files here
    table = airlock.call("GET", "/api/workspaces/alpha-main/files/output/table.csv").json()
    assert table["table"] == {"header": ["group", "count"], "rows": [["A", "10"], ["B", "12"]]}
    assert table["size"] == len(TABLE) and table["sha256"] == hashlib.sha256(TABLE.encode()).hexdigest()
    assert airlock.call("GET", "/api/workspaces/alpha-main/files/output/notes.txt").json()["text"] == "a note\n"
    image = airlock.call("GET", "/api/workspaces/alpha-main/content/output/figures/plot.png")
    assert image.status_code == 200 and image.content == PNG and image.headers["content-type"] == "image/png"
    assert image.headers["X-Content-SHA256"] == hashlib.sha256(PNG).hexdigest()
    log = airlock.call("GET", "/api/workspaces/alpha-main/logs/prepare")
    assert log.status_code == 200 and "wrote output/secret.csv" in log.text
    assert [w["name"] for w in airlock.call("GET", "/api/workspaces").json()] == ["alpha-main"]
    actions = [(e["actor"], e["action"], e["path"]) for e in airlock.airlock.db.audit_entries()]
    assert ("developer", "view", "output/table.csv") in actions
    assert ("developer", "download", "output/figures/plot.png") in actions


def test_no_path_leaves_level4(airlock):
    for path in (
        "../output/secret.csv",
        "output/../../output/secret.csv",
        "%2e%2e/output/secret.csv",
        "..%2Foutput%2Fsecret.csv",
        "output/linked.csv",  # a symlink to the highly_sensitive file
        "passwd",  # a symlink to /etc/passwd
        "outdir/secret.csv",  # through a symlinked directory
        "/etc/passwd",
        "output",  # a directory
        "output//table.csv",
    ):
        for route in ("files", "content"):
            response = airlock.call("GET", f"/api/workspaces/alpha-main/{route}/{path}")
            assert response.status_code == 404, (route, path, response.status_code, response.text[:200])
            assert "nhs_number" not in response.text and "root:" not in response.text
    for action in ("../level4/output/table", "..", "prepare.log/../x"):
        assert airlock.call("GET", f"/api/workspaces/alpha-main/logs/{action}").status_code == 404
    # HTTP clients tidy dot segments away; the paths as they might reach the server anyway:
    files = WorkspaceFiles(airlock.workspaces, "alpha-main")
    for raw in (
        "../output/secret.csv",
        "output/../../output/secret.csv",
        "./output/table.csv",
        "output/./table.csv",
        "output/linked.csv",
        "outdir/secret.csv",
        "passwd",
        "/etc/passwd",
        "output\\table.csv",
        "a\x00b",
    ):
        with pytest.raises(NotFound):
            files.level4_bytes(raw)
    for name in ("..", "alpha-main/../alpha-main", ".hidden"):
        with pytest.raises(NotFound):
            WorkspaceFiles(airlock.workspaces, name)


def test_only_developers_of_the_project_see_its_files(airlock):
    for role, status in (
        ("collaborator", 403),
        ("other_developer", 403),
        ("checker", 403),
        ("publisher", 403),
        ("admin", 403),
    ):
        for path in ("files", "files/output/table.csv", "content/output/table.csv", "logs/prepare"):
            response = airlock.call("GET", f"/api/workspaces/alpha-main/{path}", as_=role)
            assert_error(response, status, "MISSING_ROLE")
    for path in ("files", "content/output/table.csv"):
        assert_error(airlock.call("GET", f"/api/workspaces/alpha-main/{path}", as_="anonymous"), 401, "LOGIN_REQUIRED")
    assert airlock.call("GET", "/api/workspaces", as_="other_developer").json() == []  # beta has none at site-a
    assert_error(airlock.call("GET", "/api/workspaces/nowhere/files"), 404, "WORKSPACE_NOT_FOUND")


def test_a_planted_fifo_or_a_huge_file_costs_a_worker_nothing(airlock):
    level4 = airlock.workspaces / "alpha-main" / "level4" / "output"
    os.mkfifo(level4 / "pipe.csv")  # opening it for reading would block forever without O_NONBLOCK
    with open(level4 / "huge.csv", "wb") as fh:  # sparse: 65 MiB that take no disk
        fh.truncate(65 << 20)
    paths = [f["path"] for f in airlock.call("GET", "/api/workspaces/alpha-main/files").json()]
    assert "output/pipe.csv" not in paths and "output/huge.csv" in paths
    assert_error(airlock.call("GET", "/api/workspaces/alpha-main/files/output/pipe.csv"), 404, "FILE_NOT_FOUND")
    too_large = airlock.call("GET", "/api/workspaces/alpha-main/content/output/huge.csv")
    assert_error(too_large, 413, "FILE_TOO_LARGE")
    asked = airlock.call(
        "POST",
        "/api/release-requests",
        json={"workspace": "alpha-main", "files": [{"path": "output/huge.csv", "reason": "all of it"}]},
    )
    problems = assert_error(asked, 422, "INVALID_RELEASE_REQUEST")["details"]["problems"]
    assert problems == [f"output/huge.csv: {65 << 20} bytes, over the {16 << 20} a release allows"]
