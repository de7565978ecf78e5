"""Site credentials are an admin's to create, list and revoke: a revoked client gets no token, and the
tokens it already holds stop working at once."""

import requests

from orchestrator.runtime.client import Credentials, RuntimeClient
from tests.utils.api import assert_error, call, snapshot


def token_request(server: str, creds) -> requests.Response:
    return requests.post(
        server + "/token",
        timeout=30,
        data={"grant_type": "client_credentials", "client_id": creds.client_id, "client_secret": creds.client_secret},
    )


def test_admin_lists_and_revokes_site_credentials(admin, make_site, store, server):
    first = make_site("site-a", ["py"])
    made = call(admin, "POST", "/sites/site-a:generateCredentials")
    assert made.status_code == 201, made.text
    second = RuntimeClient(
        server,
        Credentials(client_id=made.json()["client_id"], client_secret=made.json()["client_secret"]),
        max_retries=1,
    )
    listed = call(admin, "GET", "/sites/site-a/credentials")
    assert listed.status_code == 200, listed.text
    items = listed.json()["items"]
    assert [item["client_id"] for item in items] == [first.credentials.client_id, second.credentials.client_id]
    assert all(set(item) == {"client_id", "site_id", "created_at", "seq"} for item in items), items
    assert first.credentials.client_secret not in listed.text and second.credentials.client_secret not in listed.text
    page = call(admin, "GET", "/sites/site-a/credentials", params={"limit": 1}).json()
    assert [i["client_id"] for i in page["items"]] == [first.credentials.client_id] and page[
        "next_after_seq"
    ] is not None

    held = first.token()
    assert call(first, "GET", "/jobs", token=held).status_code == 200
    revoked = call(admin, "DELETE", f"/sites/site-a/credentials/{first.credentials.client_id}")
    assert revoked.status_code == 204, revoked.text
    assert_error(call(first, "GET", "/jobs", token=held), 401, "TOKEN_REVOKED")
    assert_error(token_request(server, first.credentials), 401, "INVALID_CREDENTIALS")
    assert call(second, "GET", "/jobs").status_code == 200  # the site's other client is untouched
    assert [i["client_id"] for i in call(admin, "GET", "/sites/site-a/credentials").json()["items"]] == [
        second.credentials.client_id
    ]
    make_site("site-b")
    before = snapshot(admin, store)
    assert_error(
        call(admin, "DELETE", f"/sites/site-a/credentials/{first.credentials.client_id}"), 404, "CLIENT_NOT_FOUND"
    )
    assert_error(
        call(admin, "DELETE", f"/sites/site-b/credentials/{second.credentials.client_id}"), 404, "CLIENT_NOT_FOUND"
    )
    assert snapshot(admin, store) == before
    assert call(second, "GET", "/jobs").status_code == 200


def test_a_site_cannot_mint_or_see_credentials_even_its_own(make_site, store):
    site = make_site("site-a", ["py"])
    before = store.list_credentials("site-a")
    for method, path in (
        ("POST", "/sites/site-a:generateCredentials"),
        ("GET", "/sites/site-a/credentials"),
        ("DELETE", f"/sites/site-a/credentials/{site.credentials.client_id}"),
    ):
        assert_error(call(site, method, path), 403, "ADMIN_ONLY")
    assert store.list_credentials("site-a") == before
    assert call(site, "GET", "/jobs").status_code == 200


def test_a_token_issued_for_a_revoked_client_is_refused(make_site, store):
    """A login that verified the secret just before the revoke committed must not get a working token."""
    site = make_site("site-a")
    client_id = site.credentials.client_id
    store.revoke_credentials("site-a", client_id)
    try:
        store._issue("site", "site-a", client_id)
    except Exception as exc:
        assert getattr(exc, "code", None) == "INVALID_CREDENTIALS", exc
    else:
        raise AssertionError("a token was issued for a revoked client")
