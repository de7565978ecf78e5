"""Released outputs on the jobs site: the workspace's site records a reviewed release; the project's
developers and collaborators see and download the files (same sha256); a developer drafts a
publication, a publisher publishes it and anyone reads it; a checker deletes a file from every view;
every step is in the release log. Nobody else sees anything, the runtime's /objects included."""

import hashlib
import threading

from sqlalchemy import func, select

from orchestrator.jobsite import schema as t
from tests.jobsite.releases import as_site, record, release_body, upload
from tests.utils.api import assert_error

TABLE = b"group,count\nA,10\nB,12\n"
FIGURE = b"\x89PNG\r\n\x1a\nnot really a figure"


def count(world, table) -> int:
    with world.store.read() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar()


def test_released_files_go_from_members_to_a_draft_to_everyone(world):
    body = release_body(world, {"output/table.csv": TABLE, "output/figure.png": FIGURE})
    recorded = record(world, body)
    assert recorded.status_code == 201, recorded.text
    release = recorded.json()
    assert release["site_id"] == "site-a" and release["project"] == "alpha"
    assert sorted(f["path"] for f in release["files"]) == ["output/figure.png", "output/table.csv"]
    again = record(world, body)  # the airlock retries after a lost reply
    assert again.status_code == 200 and again.json() == release
    assert count(world, t.released_files) == 2

    for role in ("developer", "collaborator"):
        listed = world.call("GET", "/api/workspaces/alpha-main/released-files", as_=role)
        assert listed.status_code == 200 and len(listed.json()["items"]) == 2, listed.text
    table = next(f for f in release["files"] if f["path"] == "output/table.csv")
    download = world.call("GET", f"/api/released-files/{table['id']}/content", as_="collaborator")
    assert download.status_code == 200 and download.content == TABLE
    assert download.headers["X-Content-SHA256"] == hashlib.sha256(TABLE).hexdigest() == table["sha256"]
    for role, status in (("anonymous", 401), ("other_developer", 403), ("publisher", 403), ("checker", 200)):
        assert world.call("GET", f"/api/released-files/{table['id']}/content", as_=role).status_code == status
    # the runtime's own object routes do not hand the bytes to people
    object_id = body["files"][1]["object_id"]
    assert_error(world.call("GET", f"/objects/{object_id}/content", as_="developer"), 404, "OBJECT_NOT_FOUND")

    draft = world.call("POST", "/api/workspaces/alpha-main/publications", as_="developer", json={"title": "Tables"})
    assert draft.status_code == 201, draft.text
    draft = draft.json()
    assert draft["status"] == "draft" and draft["title"] == "Tables" and len(draft["files"]) == 2
    assert world.call("GET", f"/api/publications/{draft['id']}", as_="collaborator").status_code == 200
    assert world.call("GET", f"/api/publications/{draft['id']}", as_="publisher").status_code == 200
    assert world.call("GET", f"/api/released-files/{table['id']}/content", as_="publisher").status_code == 200
    assert_error(world.call("GET", f"/api/publications/{draft['id']}", as_="anonymous"), 401)
    assert world.call("GET", "/api/workspaces/alpha-main/publications", as_="anonymous").json()["items"] == []

    published = world.call("POST", f"/api/publications/{draft['id']}:publish", as_="publisher")
    assert published.status_code == 200 and published.json()["status"] == "published", published.text
    assert published.json()["decided_by"] == "publisher"
    public = world.call("GET", f"/api/publications/{draft['id']}", as_="anonymous").json()
    assert [f["path"] for f in public["files"]] == ["output/figure.png", "output/table.csv"]
    anyone = world.call("GET", f"/api/released-files/{table['id']}/content", as_="anonymous")
    assert anyone.status_code == 200 and hashlib.sha256(anyone.content).hexdigest() == table["sha256"]
    assert [
        p["id"] for p in world.call("GET", "/api/workspaces/alpha-main/publications", as_="anonymous").json()["items"]
    ] == [draft["id"]]
    assert_error(world.call("POST", f"/api/publications/{draft['id']}:reject", as_="publisher"), 409, "NOT_A_DRAFT")

    log = world.call("GET", "/api/workspaces/alpha-main/release-log", as_="developer").json()["items"]
    assert [(e["actor"], e["action"]) for e in log] == [
        ("checker", "release"),
        ("checker", "release"),
        ("developer", "draft"),
        ("publisher", "published"),
    ]


def test_a_checker_deletes_a_file_from_every_view_and_the_log_keeps_who(world):
    release = record(world, release_body(world, {"output/table.csv": TABLE, "output/figure.png": FIGURE})).json()
    draft = world.call("POST", "/api/workspaces/alpha-main/publications", as_="developer").json()
    world.call("POST", f"/api/publications/{draft['id']}:publish", as_="publisher")
    table = next(f for f in release["files"] if f["path"] == "output/table.csv")
    assert_error(world.call("DELETE", f"/api/released-files/{table['id']}", as_="developer"), 403, "MISSING_ROLE")

    assert world.call("DELETE", f"/api/released-files/{table['id']}", as_="checker").status_code == 204
    for role in ("anonymous", "developer", "collaborator"):
        assert_error(world.call("GET", f"/api/released-files/{table['id']}/content", as_=role), 404)
    assert [f["path"] for f in world.call("GET", "/api/workspaces/alpha-main/released-files").json()["items"]] == [
        "output/figure.png"
    ]
    assert [
        f["path"] for f in world.call("GET", f"/api/publications/{draft['id']}", as_="anonymous").json()["files"]
    ] == ["output/figure.png"]
    assert_error(world.call("DELETE", f"/api/released-files/{table['id']}", as_="checker"), 404)
    log = world.call("GET", "/api/workspaces/alpha-main/release-log", as_="checker").json()["items"]
    deleted = [e for e in log if e["action"] == "delete"]
    assert [(e["actor"], e["file_id"], e["detail"]) for e in deleted] == [
        ("checker", table["id"], "deleted output/table.csv")
    ]


def test_a_draft_takes_the_latest_release_of_each_path(world):
    record(world, release_body(world, {"output/table.csv": b"v1\n", "output/other.csv": b"o\n"}))
    newer = record(world, release_body(world, {"output/table.csv": b"v2\n"})).json()
    draft = world.call("POST", "/api/workspaces/alpha-main/publications", as_="developer").json()
    files = {f["path"]: f for f in draft["files"]}
    assert sorted(files) == ["output/other.csv", "output/table.csv"]
    assert files["output/table.csv"]["id"] == newer["files"][0]["id"]
    rejected = world.call("POST", f"/api/publications/{draft['id']}:reject", as_="publisher").json()
    assert rejected["status"] == "rejected"
    assert (
        world.call("GET", f"/api/released-files/{files['output/other.csv']['id']}/content", as_="anonymous").status_code
        == 401
    )


def test_nothing_to_draft_without_released_files(world):
    assert_error(
        world.call("POST", "/api/workspaces/alpha-main/publications", as_="developer"), 409, "NOTHING_RELEASED"
    )


def test_a_release_is_checked_whole_and_nothing_is_recorded_when_any_part_is_wrong(world):
    body = release_body(world, {"output/ok.csv": b"fine\n"})
    body["files"] += [
        {"path": "../etc/passwd", "object_id": upload(world, b"a")},
        {"path": "/abs/file.csv", "object_id": upload(world, b"b")},
        {"path": "output/./x.csv", "object_id": upload(world, b"c")},
        {"path": "output/ok.csv", "object_id": upload(world, b"d")},  # the same path twice
        {"path": "output/other-site.csv", "object_id": upload(world, b"e", site_id="site-b")},
        {"path": "output/wrong-type.csv", "object_id": upload(world, b"f", types=("study-commit",))},
        {"path": "output/missing.csv", "object_id": "obj-nope"},
    ]
    body["reviewers"] = ["checker", "developer"]
    problems = assert_error(record(world, body), 422, "INVALID_RELEASE")["details"]["problems"]
    text = "\n".join(problems)
    for expected in (
        "output/ok.csv: named twice",
        "'../etc/passwd'",
        "'/abs/file.csv'",
        "'output/./x.csv'",
        "not uploaded by site site-a",
        "is not of type released-output",
        "no object 'obj-nope'",
        "developer asked for this release and may not review",
        "developer is not an output checker",
    ):
        assert expected in text, (expected, problems)
    assert count(world, t.releases) == 0 and count(world, t.released_files) == 0 and count(world, t.release_log) == 0

    one_reviewer = release_body(world, {"output/a.csv": b"a"}, reviewers=["checker", "checker"])
    assert "two different output checkers" in assert_error(record(world, one_reviewer), 422)["message"]


def test_only_the_workspaces_own_site_records_a_release(world):
    body = release_body(world, {"output/a.csv": b"a"})
    assert_error(record(world, body, site_id="site-b"), 403, "WRONG_SITE")
    for role in ("developer", "checker", "admin"):
        assert_error(world.call("POST", "/api/releases", as_=role, json=body), 403, "SITE_CREDENTIALS_REQUIRED")
    assert_error(world.call("POST", "/api/releases", as_="anonymous", json=body), 401, "LOGIN_REQUIRED")
    assert record(world, body).status_code == 201
    other = release_body(world, {"output/b.csv": b"b"}, release_id=body["id"])
    assert_error(record(world, other), 409, "ALREADY_EXISTS")


def test_concurrent_recordings_of_one_release_record_it_once(world):
    body = release_body(world, {"output/a.csv": b"a", "output/b.csv": b"b"})
    statuses, barrier = [], threading.Barrier(4)

    def send():
        barrier.wait()
        statuses.append(record(world, body).status_code)

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 200, 200, 201]
    assert count(world, t.releases) == 1 and count(world, t.released_files) == 2
    assert as_site(world)  # the site's token still works after the race
