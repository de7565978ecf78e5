"""Logging in to the airlock with a single-use token: a session cookie (HttpOnly, SameSite), the same
refusal for a wrong, used or expired token, a limit on failed attempts, sessions that lapse after two
weeks unused, and roles re-read from the jobs site."""

from datetime import timedelta

import requests
from sqlalchemy import update

from orchestrator.airlock import schema as a
from orchestrator.airlock.central import Central
from orchestrator.jobsite import schema as t
from orchestrator.jobsite.models import MembershipSet
from orchestrator.runtime.client import Credentials, RuntimeClient
from orchestrator.runtime.schema import utcnow
from tests.jobsite.conftest import ADMIN
from tests.jobsite.smtp import free_port
from tests.utils.api import assert_error


def post_login(airlock, username, token):
    return requests.post(airlock.url + "/api/login", json={"username": username, "token": token}, timeout=60)


def test_a_single_use_token_opens_a_session_once(airlock):
    token = airlock.world.jobsite.create_login_token(airlock.world.actor("developer")).token
    response = post_login(airlock, "developer", token.upper())
    assert response.status_code == 200, response.text
    assert response.json()["person"]["memberships"] == {"alpha": ["ProjectDeveloper"]}
    cookie = response.headers["set-cookie"].lower()
    assert "airlock_session=" in cookie and "httponly" in cookie and "samesite=strict" in cookie
    with requests.Session() as browser:  # the cookie alone is enough
        browser.cookies.set("airlock_session", response.json()["session"])
        assert browser.get(airlock.url + "/api/me", timeout=30).json()["username"] == "developer"
        assert browser.get(airlock.url + "/api/workspaces/alpha-main/files", timeout=30).status_code == 200
        assert browser.post(airlock.url + "/api/logout", timeout=30).status_code == 204
        assert_error(browser.get(airlock.url + "/api/me", timeout=30), 401, "SESSION_EXPIRED")
    used = assert_error(post_login(airlock, "developer", token), 403, "LOGIN_TOKEN_REFUSED")
    wrong = assert_error(post_login(airlock, "developer", "not the words"), 403, "LOGIN_TOKEN_REFUSED")
    assert used["message"] == wrong["message"] and "new token" in used["message"]
    with airlock.world.store.write() as conn:  # an hour later
        conn.execute(update(t.login_tokens).values(expires_at=utcnow() - timedelta(seconds=1)))
    expired = airlock.world.jobsite.create_login_token(airlock.world.actor("collaborator")).token
    with airlock.world.store.write() as conn:
        conn.execute(update(t.login_tokens).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert_error(post_login(airlock, "collaborator", expired), 403, "LOGIN_TOKEN_REFUSED")
    assert_error(requests.get(airlock.url + "/api/me", timeout=30), 401, "LOGIN_REQUIRED")


def test_failed_logins_are_limited(airlock):
    limit = airlock.airlock.settings.airlock_login_max_failures
    for _ in range(limit):
        assert post_login(airlock, "developer", "guess guess guess").status_code == 403
    token = airlock.world.jobsite.create_login_token(airlock.world.actor("developer")).token
    limited = post_login(airlock, "developer", token)
    assert_error(limited, 429, "TOO_MANY_ATTEMPTS")
    assert int(limited.headers["Retry-After"]) > 0
    with airlock.airlock.db.write() as conn:  # the window passes
        conn.execute(update(a.login_failures).values(window_started_at=utcnow() - timedelta(hours=1)))
    assert post_login(airlock, "developer", token).status_code == 200  # the token was not spent while limited


def test_a_session_lapses_after_two_weeks_unused(airlock):
    session = airlock.session("developer")
    with airlock.airlock.db.write() as conn:
        conn.execute(update(a.sessions).values(last_used_at=utcnow() - timedelta(days=13, hours=23)))
    assert airlock.call("GET", "/api/me").status_code == 200  # used: two more weeks
    with airlock.airlock.db.write() as conn:
        conn.execute(update(a.sessions).values(last_used_at=utcnow() - timedelta(days=14, minutes=1)))
    response = requests.get(airlock.url + "/api/me", headers={"Authorization": f"Bearer {session}"}, timeout=30)
    assert_error(response, 401, "SESSION_EXPIRED")


def test_roles_are_read_again_from_the_jobs_site(airlock):
    assert airlock.call("GET", "/api/workspaces/alpha-main/files", as_="collaborator").status_code == 403
    airlock.world.jobsite.set_membership("alpha", "collaborator", MembershipSet(roles=["ProjectDeveloper"]), ADMIN)
    assert airlock.call("GET", "/api/workspaces/alpha-main/files", as_="collaborator").status_code == 403  # cached
    with airlock.airlock.db.write() as conn:
        conn.execute(update(a.sessions).values(roles_read_at=utcnow() - timedelta(minutes=6)))
    assert airlock.call("GET", "/api/workspaces/alpha-main/files", as_="collaborator").status_code == 200


def test_the_cookie_is_renewed_on_use_and_old_roles_stop_counting_when_the_central_server_is_gone(airlock):
    session = airlock.session("developer")
    with requests.Session() as browser:
        browser.cookies.set("airlock_session", session)
        used = browser.get(airlock.url + "/api/workspaces/alpha-main/files", timeout=30)
        assert used.status_code == 200 and "airlock_session=" in used.headers["set-cookie"]

    sessions = airlock.airlock.sessions
    real = sessions.central
    dead = RuntimeClient(
        f"http://127.0.0.1:{free_port()}", Credentials(client_id="x", client_secret="y"), max_retries=0
    )
    sessions.central = Central(dead, "site-a")
    try:
        with airlock.airlock.db.write() as conn:
            conn.execute(update(a.sessions).values(roles_read_at=utcnow() - timedelta(minutes=30)))
        assert airlock.call("GET", "/api/workspaces/alpha-main/files").status_code == 200  # roles read 30 min ago
        with airlock.airlock.db.write() as conn:
            conn.execute(update(a.sessions).values(roles_read_at=utcnow() - timedelta(hours=2)))
        assert_error(airlock.call("GET", "/api/workspaces/alpha-main/files"), 503, "ROLES_UNKNOWN")
    finally:
        sessions.central = real
    assert airlock.call("GET", "/api/workspaces/alpha-main/files").status_code == 200
