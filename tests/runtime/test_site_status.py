"""Sites' status from heartbeats: every heartbeat (even for no operations) marks the site seen, with its
running and queued runs if it sends them; `GET /sites/{id}/status` is public and answers 503 while the
site is down (never seen, or not seen for site_down_after_seconds); the site itself or an admin pauses,
resumes and starts or ends its database maintenance, and a paused site claims nothing."""

from datetime import datetime, timedelta

import requests
from sqlalchemy import update

from orchestrator.runtime import schema as s
from orchestrator.runtime.schema import utcnow
from tests.utils.api import assert_error, call, expect_error, snapshot


def status_of(server: str, site_id: str, **kwargs) -> requests.Response:
    """As a monitor asks: no token."""
    return requests.get(f"{server}/sites/{site_id}/status", timeout=30, **kwargs)


def seen_ago(store, site_id: str, seconds: float) -> None:
    with store.write() as conn:
        conn.execute(
            update(s.sites).where(s.sites.c.id == site_id).values(last_seen_at=utcnow() - timedelta(seconds=seconds))
        )


def test_a_site_never_seen_is_down(server, make_site):
    make_site("site-a", ["py"])
    response = status_of(server, "site-a")
    assert response.status_code == 503 and response.headers["cache-control"] == "no-store"
    assert response.json() == {
        "site_id": "site-a",
        "last_seen_at": None,
        "running": 0,
        "queued": 0,
        "paused": False,
        "maintenance": False,
        "up": False,
    }


def test_a_heartbeat_with_no_operations_marks_the_site_up_with_its_load(server, make_site, store):
    site, other = make_site("site-a", ["py"]), make_site("site-b", ["py"])
    before = utcnow()
    beat = site.heartbeat([], site_status={"running": 2, "queued": 5})
    assert beat == {"operations": [], "missing": [], "site": {"paused": False, "maintenance": False}}
    response = status_of(server, "site-a")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["up"], body["running"], body["queued"], body["paused"]) == (True, 2, 5, False)
    assert before <= datetime.fromisoformat(body["last_seen_at"]) <= utcnow()
    assert status_of(server, "site-b").status_code == 503  # one site's heartbeat says nothing of another
    assert store.get_site_status("site-a").model_dump(mode="json") == body  # what the jobs site calls
    assert site.site_status("site-a").model_dump(mode="json") == body  # and the client's method
    # a heartbeat without a load renews last_seen_at and keeps the load it last reported
    seen_ago(store, "site-a", 100)
    site.heartbeat([])
    later = store.get_site_status("site-a")
    assert (later.running, later.queued) == (2, 5) and later.last_seen_at > datetime.fromisoformat(body["last_seen_at"])
    other.heartbeat([], site_status={"running": 0, "queued": 0})
    assert status_of(server, "site-b").json()["up"] is True


def test_a_heartbeat_with_operations_also_reports_the_load(world, server):
    site, op = world["site"], world["op"]
    beat = site.heartbeat([op["id"]], site_status={"running": 1, "queued": 0})
    assert [s["id"] for s in beat["operations"]] == [op["id"]]
    assert status_of(server, "site-a").json()["running"] == 1


def test_a_site_not_seen_for_site_down_after_seconds_is_down(server, make_site, store):
    site = make_site("site-a", ["py"])
    site.heartbeat([], site_status={"running": 3, "queued": 1})
    assert store.settings.site_down_after_seconds == 300  # the default
    seen_ago(store, "site-a", 290)
    assert status_of(server, "site-a").status_code == 200
    seen_ago(store, "site-a", 310)
    response = status_of(server, "site-a")
    body = response.json()
    assert response.status_code == 503 and body["up"] is False
    assert (body["running"], body["queued"], body["last_seen_at"] is not None) == (3, 1, True)  # what it last said
    status = site.site_status("site-a")  # the client takes the 503 as an answer, not an error
    assert (status.up, status.running) == (False, 3)
    store.settings.site_down_after_seconds = 600
    assert status_of(server, "site-a").status_code == 200


def test_status_of_an_unknown_site_is_404(server, admin):
    assert_error(status_of(server, "no-such-site"), 404, "SITE_NOT_FOUND")
    expect_error(404, "SITE_NOT_FOUND", admin.site_status, "no-such-site")


def test_status_needs_no_token_and_ignores_a_bad_one(server, make_site):
    site = make_site("site-a", ["py"])
    site.heartbeat([])
    assert status_of(server, "site-a").status_code == 200
    assert status_of(server, "site-a", headers={"Authorization": "Bearer garbage"}).status_code == 200


def test_a_bad_site_status_is_refused_and_changes_nothing(world, store):
    site, admin = world["site"], world["admin"]
    before = snapshot(admin, store)
    for site_status in (
        {"running": -1, "queued": 0},
        {"running": 1, "queued": "many"},
        {"running": 1, "queued": 0, "paused": True},
        [1, 2],
    ):
        response = call(site, "POST", "/operations:heartbeat", json={"operation_ids": [], "site_status": site_status})
        assert_error(response, 422, "INVALID_ARGUMENT")
    assert snapshot(admin, store) == before
    assert store.get_site_status("site-a").last_seen_at is None
    # only a site heartbeats
    assert_error(call(admin, "POST", "/operations:heartbeat", json={"operation_ids": []}), 403, "SITE_ONLY")


def test_admins_pause_and_resume_a_site(server, admin, make_site, store):
    site = make_site("site-a", ["py"])
    site.heartbeat([])
    paused = admin.pause_site("site-a")
    assert (paused.id, paused.paused) == ("site-a", True)
    assert admin.pause_site("site-a").paused  # twice is once
    assert admin.get("/sites/site-a")["paused"] is True
    body = status_of(server, "site-a").json()
    assert (body["paused"], body["up"]) == (True, True)  # paused is not down
    assert store.get_site_status("site-a").paused
    assert admin.resume_site("site-a").paused is False
    assert status_of(server, "site-a").json()["paused"] is False
    expect_error(404, "SITE_NOT_FOUND", admin.pause_site, "no-such-site")


MODE_VERBS = {":pause": ("paused", True), ":resume": ("paused", False)}
MODE_VERBS |= {":startMaintenance": ("maintenance", True), ":endMaintenance": ("maintenance", False)}


def test_the_site_itself_or_an_admin_changes_its_mode_and_nobody_else(admin, make_site, store):
    """Every mode verb x every kind of caller: the site (its operator runs `orchestrator site pause` with
    the site's credentials) and admins may; another site, a user and no token may not."""
    site, other_site = make_site("site-a", ["py"]), make_site("site-b", ["py"])
    store.create_user("bob", "pw")
    bob = call(admin, "POST", "/token", token="", data={"grant_type": "password", "username": "bob", "password": "pw"})
    bob_token = bob.json()["access_token"]
    for verb, (field, value) in MODE_VERBS.items():
        before = store.get_site("site-a").model_dump(exclude={"last_seen_at"})
        assert_error(call(other_site, "POST", f"/sites/site-a{verb}"), 403, "SITE_OR_ADMIN_ONLY")
        assert_error(call(admin, "POST", f"/sites/site-a{verb}", token=bob_token), 403, "SITE_OR_ADMIN_ONLY")
        assert_error(call(admin, "POST", f"/sites/site-a{verb}", token=""), 401, "MISSING_TOKEN")
        assert store.get_site("site-a").model_dump(exclude={"last_seen_at"}) == before  # the refusals changed nothing
        for caller in (site, admin):
            for _ in range(2):  # twice is once
                response = call(caller, "POST", f"/sites/site-a{verb}")
                assert response.status_code == 200, response.text
                assert response.json()[field] is value
        assert getattr(store.get_site_status("site-a"), field) is value
    assert_error(call(admin, "POST", "/sites/no-such-site:startMaintenance"), 404, "SITE_NOT_FOUND")


def test_maintenance_is_shown_in_the_status_and_in_heartbeats(server, make_site):
    site = make_site("site-a", ["py"])
    site.heartbeat([])
    assert site.start_maintenance("site-a").maintenance is True
    body = status_of(server, "site-a").json()
    assert (body["maintenance"], body["paused"], body["up"]) == (True, False, True)
    assert site.heartbeat([])["site"] == {"paused": False, "maintenance": True}
    site.pause_site("site-a")
    assert site.heartbeat([])["site"] == {"paused": True, "maintenance": True}
    assert site.end_maintenance("site-a").maintenance is False
    assert status_of(server, "site-a").json()["maintenance"] is False


def test_a_paused_site_claims_nothing_and_another_site_still_can(catalog, make_site, store):
    site, other = make_site("site-a", ["py"]), make_site("site-b", ["py"])
    first, second = catalog.create_job("wf"), catalog.create_job("wf")
    site.pause_site("site-a")
    for attempt in (lambda: site.claim_next("wf", 1), lambda: site.claim_job(first["id"])):
        error = expect_error(409, "SITE_PAUSED", attempt)
        assert "orchestrator site resume" in error.message
    assert store.get_job(first["id"]).status == "open"  # nothing was taken
    (op,) = other.claim_next("wf", 1)
    assert op["job_id"] == first["id"]
    site.resume_site("site-a")
    (op,) = site.claim_next("wf", 1)
    assert op["job_id"] == second["id"]
