"""Release requests at the airlock: a developer asks with a reason per file; two different output
checkers, neither the author, review every file; rejected files are withdrawn or the request returned
and submitted again; a checker releases it and the files reach the jobs site as released outputs with
the same sha256. Every step is in the audit log."""

import hashlib

from tests.airlock.conftest import PNG, TABLE
from tests.utils.api import assert_error

FILES = [
    {"path": "output/table.csv", "reason": "the main table, counts over 10"},
    {"path": "output/figures/plot.png", "reason": "figure 1"},
]


def ask(airlock, files=FILES, as_="developer"):
    response = airlock.call("POST", "/api/release-requests", as_=as_, json={"workspace": "alpha-main", "files": files})
    assert response.status_code == 201, response.text
    return response.json()


def review(airlock, request_id, path, decision, as_, comment="ok"):
    return airlock.call(
        "POST",
        f"/api/release-requests/{request_id}/reviews",
        as_=as_,
        json={"path": path, "decision": decision, "comment": comment},
    )


def approve_all(airlock, request_id, paths, checkers=("checker", "checker2")):
    for checker in checkers:
        for path in paths:
            assert review(airlock, request_id, path, "approve", checker).status_code == 200


def test_two_checkers_approve_and_a_release_reaches_the_jobs_site(airlock):
    request = ask(airlock)
    assert request["status"] == "submitted" and request["author"] == "developer"
    assert [(f["path"], f["sha256"]) for f in request["files"]] == [
        ("output/table.csv", hashlib.sha256(TABLE.encode()).hexdigest()),
        ("output/figures/plot.png", hashlib.sha256(PNG).hexdigest()),
    ]
    rid = request["id"]
    # the bytes under review are those asked for, even if the workspace's file changes afterwards
    (airlock.workspaces / "alpha-main/level4/output/table.csv").write_text("group,count\nA,999\n")
    under_review = airlock.call("GET", f"/api/release-requests/{rid}/content/output/table.csv", as_="checker")
    assert under_review.content == TABLE.encode()

    assert_error(review(airlock, rid, "output/table.csv", "approve", "developer"), 403, "MISSING_ROLE")
    approve_all(airlock, rid, ["output/table.csv", "output/figures/plot.png"], checkers=("checker",))
    not_yet = assert_error(airlock.call("POST", f"/api/release-requests/{rid}:release", as_="checker"), 409)
    assert not_yet["code"] == "NOT_APPROVED" and not_yet["details"]["files"] == {
        "output/table.csv": "1 of 2 approvals",
        "output/figures/plot.png": "1 of 2 approvals",
    }
    approve_all(airlock, rid, ["output/table.csv", "output/figures/plot.png"], checkers=("checker2",))
    released = airlock.call("POST", f"/api/release-requests/{rid}:release", as_="checker2")
    assert released.status_code == 200, released.text
    released = released.json()
    assert released["status"] == "released" and released["released_by"] == "checker2"
    assert all(f["uploaded"] and f["object_id"] for f in released["files"])

    world = airlock.world
    files = world.call("GET", "/api/workspaces/alpha-main/released-files", as_="collaborator").json()["items"]
    assert sorted((f["path"], f["release_id"], f["released_by"]) for f in files) == [
        ("output/figures/plot.png", rid, "checker2"),
        ("output/table.csv", rid, "checker2"),
    ]
    table = next(f for f in files if f["path"] == "output/table.csv")
    download = world.call("GET", f"/api/released-files/{table['id']}/content", as_="developer")
    assert download.content == TABLE.encode() and download.headers["X-Content-SHA256"] == table["sha256"]
    assert_error(airlock.call("POST", f"/api/release-requests/{rid}:release", as_="checker"), 409, "WRONG_STATUS")
    gone = airlock.call("GET", f"/api/release-requests/{rid}/content/output/table.csv", as_="checker")
    assert "jobs site" in assert_error(gone, 404, "COPY_DISCARDED")["message"]  # the copies left with the release

    audit = airlock.call("GET", f"/api/release-requests/{rid}/audit").json()
    steps = [(e["actor"], e["action"], e["path"]) for e in audit]
    assert steps[:2] == [
        ("developer", "request", "output/table.csv"),
        ("developer", "request", "output/figures/plot.png"),
    ]
    assert ("checker2", "approve", "output/table.csv") in steps and ("checker2", "released", None) == steps[-1]
    assert sum(1 for _, action, _ in steps if action == "upload") == 2


def test_a_rejected_file_is_withdrawn_or_the_request_returned(airlock):
    rid = ask(airlock)["id"]
    review(airlock, rid, "output/table.csv", "reject", "checker", comment="small numbers")
    approve_all(airlock, rid, ["output/figures/plot.png"])
    refused = assert_error(airlock.call("POST", f"/api/release-requests/{rid}:release", as_="checker2"), 409)
    assert "rejected by checker" in refused["details"]["files"]["output/table.csv"]

    returned = airlock.call("POST", f"/api/release-requests/{rid}:return", as_="checker", json={"comment": "see notes"})
    assert returned.json()["status"] == "returned"
    assert_error(review(airlock, rid, "output/table.csv", "approve", "checker2"), 409, "WRONG_STATUS")
    assert_error(
        airlock.call("POST", f"/api/release-requests/{rid}:withdraw", as_="collaborator", json={"paths": ["x"]}),
        403,
        "MISSING_ROLE",
    )
    nothing = airlock.call("POST", f"/api/release-requests/{rid}:withdraw", as_="developer", json={"paths": []})
    assert_error(nothing, 422, "NO_PATHS")  # an empty list never withdraws the whole request by accident
    withdrawn = airlock.call(
        "POST", f"/api/release-requests/{rid}:withdraw", as_="developer", json={"paths": ["output/table.csv"]}
    ).json()
    assert [f["withdrawn"] for f in withdrawn["files"]] == [True, False]
    assert airlock.call("POST", f"/api/release-requests/{rid}:submit").json()["status"] == "submitted"
    released = airlock.call("POST", f"/api/release-requests/{rid}:release", as_="checker").json()
    assert released["status"] == "released"
    files = airlock.world.call("GET", "/api/workspaces/alpha-main/released-files").json()["items"]
    assert [f["path"] for f in files] == ["output/figures/plot.png"]


def test_a_checker_who_asked_may_not_review_or_release_their_own_request(airlock):
    # the checker becomes a developer of alpha, asks, and must leave the review to two others
    from orchestrator.jobsite.models import MembershipSet
    from tests.jobsite.conftest import ADMIN

    airlock.world.jobsite.set_membership("alpha", "checker", MembershipSet(roles=["ProjectDeveloper"]), ADMIN)
    rid = ask(airlock, as_="checker")["id"]
    assert_error(review(airlock, rid, "output/table.csv", "approve", "checker"), 403, "OWN_REQUEST")
    assert_error(airlock.call("POST", f"/api/release-requests/{rid}:return", as_="checker"), 403, "OWN_REQUEST")
    assert_error(airlock.call("POST", f"/api/release-requests/{rid}:release", as_="checker"), 403, "OWN_REQUEST")


def test_a_request_names_real_level4_files_only(airlock):
    response = airlock.call(
        "POST",
        "/api/release-requests",
        json={
            "workspace": "alpha-main",
            "files": [
                {"path": "output/table.csv", "reason": "a"},
                {"path": "output/table.csv", "reason": "b"},
                {"path": "../output/secret.csv", "reason": "c"},
                {"path": "output/linked.csv", "reason": "d"},
            ],
        },
    )
    problems = assert_error(response, 422, "INVALID_RELEASE_REQUEST")["details"]["problems"]
    assert problems == [
        "output/table.csv: named twice",
        "../output/secret.csv: no such file in level4/",
        "output/linked.csv: no such file in level4/",
    ]
    assert airlock.call("GET", "/api/release-requests", as_="checker").json() == []
    assert_error(
        airlock.call(
            "POST", "/api/release-requests", as_="other_developer", json={"workspace": "alpha-main", "files": FILES}
        ),
        403,
        "MISSING_ROLE",
    )


def test_who_sees_which_requests(airlock):
    rid = ask(airlock)["id"]
    for role, seen in (("developer", [rid]), ("checker", [rid]), ("checker2", [rid]), ("other_developer", [])):
        assert [r["id"] for r in airlock.call("GET", "/api/release-requests", as_=role).json()] == seen, role
    for role, status in (("collaborator", 403), ("publisher", 403), ("other_developer", 403)):
        assert airlock.call("GET", f"/api/release-requests/{rid}", as_=role).status_code == status, role


def test_a_release_the_jobs_site_refuses_says_why_and_is_not_retried_as_an_outage(airlock):
    from orchestrator.jobsite.models import PersonUpdate
    from tests.jobsite.conftest import ADMIN

    rid = ask(airlock)["id"]
    approve_all(airlock, rid, [f["path"] for f in FILES])
    airlock.world.jobsite.update_person("checker2", PersonUpdate(roles=[]), ADMIN)  # no longer a checker
    refused = assert_error(airlock.call("POST", f"/api/release-requests/{rid}:release", as_="checker"), 409)
    assert refused["code"] == "CENTRAL_REFUSED" and "checker2 is not an output checker" in refused["message"]
    assert airlock.world.call("GET", "/api/workspaces/alpha-main/released-files").json()["items"] == []
    back = airlock.call("GET", f"/api/release-requests/{rid}", as_="checker").json()
    assert back["status"] == "submitted" and all(f["uploaded"] for f in back["files"])  # back to review, uploads kept
    assert airlock.call("POST", f"/api/release-requests/{rid}:return", as_="checker").json()["status"] == "returned"
    steps = [e["action"] for e in airlock.call("GET", f"/api/release-requests/{rid}/audit").json()]
    assert steps[-2:] == ["release-refused", "return"]
