"""Invariant 6: secrets and tokens are stored hashed; tokens are opaque, expire and can be revoked,
and RuntimeClient fetches a new one by itself; each authentication failure has its own 401 code."""

import time
from datetime import timedelta

import requests
from sqlalchemy import select, update

from orchestrator.runtime import schema as s
from orchestrator.runtime import security
from orchestrator.runtime.errors import Unauthenticated
from orchestrator.runtime.schema import utcnow
from orchestrator.runtime.store import Store


def get(base_url: str, path: str, token: str | None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return requests.get(base_url + path, headers=headers, timeout=30)


def assert_401(response: requests.Response, code: str) -> None:
    assert (response.status_code, response.json()["code"]) == (401, code), response.text
    assert response.headers.get("WWW-Authenticate") == "Bearer"


def test_secrets_and_tokens_are_stored_hashed(store, admin, make_site):
    site = make_site("site-a", ["py"])
    plaintexts = {
        "site secret": site.credentials.client_secret,
        "admin password": admin.credentials.password,
        "site token": site.token(),
        "admin token": admin.token(),
    }
    with store.reader.connect() as conn:
        for table in s.metadata.sorted_tables:  # nowhere in the database, in any column
            for row in conn.execute(select(table)):
                for column, value in row._mapping.items():
                    for what, secret in plaintexts.items():
                        assert secret not in str(value), f"{what} stored in plain text in {table.name}.{column}"
        clients = conn.execute(select(s.site_clients)).all()
        users = conn.execute(select(s.users)).all()
        tokens = conn.execute(select(s.tokens)).all()
    assert [c.client_id for c in clients] == [site.credentials.client_id]
    assert clients[0].hashed_secret.startswith("scrypt$") and users[0].hashed_password.startswith("scrypt$")
    assert security.verify_secret(site.credentials.client_secret, clients[0].hashed_secret)
    assert not security.verify_secret(site.credentials.client_secret + "x", clients[0].hashed_secret)
    assert {t.token_hash for t in tokens} == {security.token_digest(site.token()), security.token_digest(admin.token())}
    # the same secret hashes differently each time (salted)
    assert security.hash_secret("same") != security.hash_secret("same")


def test_expired_token_is_401_and_client_renews_it(store, make_site, settings):
    site = make_site("site-a", ["py"])
    old = site.token()
    assert get(site.base_url, "/jobs", old).status_code == 200
    with store.write() as conn:
        conn.execute(
            update(s.tokens)
            .where(s.tokens.c.token_hash == security.token_digest(old))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert_401(get(site.base_url, "/jobs", old), "TOKEN_EXPIRED")
    assert site.get("/jobs")["items"] == []  # the client fetched a new token by itself
    assert site.token() != old and get(site.base_url, "/jobs", site.token()).status_code == 200
    # the configured TTL is what a token gets
    short = Store(settings.model_copy(update=dict(token_ttl_seconds=1)))
    try:
        token = short.token_for_client(site.credentials.client_id, site.credentials.client_secret)
    finally:
        short.dispose()
    assert token.expires_in == 1 and get(site.base_url, "/jobs", token.access_token).status_code == 200
    time.sleep(1.05)
    assert_401(get(site.base_url, "/jobs", token.access_token), "TOKEN_EXPIRED")


def test_revoked_token_is_401_and_client_renews_it(admin, make_site):
    site_a, site_b = make_site("site-a", ["py"]), make_site("site-b", ["py"])
    token_a, token_b = site_a.token(), site_b.token()
    # a site cannot revoke another principal's token (ignored, as RFC 7009 allows)
    assert site_b.post("/token:revoke", {"token": token_a}) == {}
    assert get(site_a.base_url, "/jobs", token_a).status_code == 200
    # its own token it can
    assert site_a.post("/token:revoke", {"token": token_a}) == {}
    assert_401(get(site_a.base_url, "/jobs", token_a), "TOKEN_REVOKED")
    assert site_a.get("/sites/site-a")["id"] == "site-a"  # the next call succeeds with a new token
    assert site_a.token() != token_a
    assert_401(get(site_a.base_url, "/jobs", token_a), "TOKEN_REVOKED")  # and the old one stays revoked
    # an admin can revoke anyone's token
    admin.post("/token:revoke", {"token": token_b})
    assert_401(get(site_b.base_url, "/jobs", token_b), "TOKEN_REVOKED")
    assert site_b.get("/jobs")["items"] == []


def test_missing_or_garbage_token_is_401(server, admin):
    assert_401(get(server, "/jobs", None), "MISSING_TOKEN")
    assert_401(get(server, "/jobs", "not-a-token"), "INVALID_TOKEN")
    assert_401(get(server, "/jobs", admin.token() + "x"), "INVALID_TOKEN")
    assert_401(
        get(server, "/jobs", security.token_digest(admin.token())), "INVALID_TOKEN"
    )  # the stored hash is no token
    basic = requests.get(server + "/jobs", headers={"Authorization": "Basic YWRtaW46eA=="}, timeout=30)
    assert_401(basic, "MISSING_TOKEN")


def test_token_endpoint_form_and_json_and_bad_credentials(server, admin, make_site):
    site = make_site("site-a", ["py"])
    creds = site.credentials
    site_grant = {
        "grant_type": "client_credentials",
        "client_id": creds.client_id,
        "client_secret": creds.client_secret,
    }
    user_grant = {"grant_type": "password", "username": "admin", "password": admin.credentials.password}
    for grant, who in ((site_grant, "site-a"), (user_grant, None)):
        for body in ({"data": grant}, {"json": grant}):  # form-encoded, then JSON
            response = requests.post(server + "/token", timeout=30, **body)
            assert response.status_code == 200, response.text
            token = response.json()
            assert token["token_type"] == "bearer" and token["expires_in"] == 3600
            assert get(server, "/jobs", token["access_token"]).status_code == 200
            if who:
                assert get(server, f"/sites/{who}", token["access_token"]).json()["id"] == who
    for bad in (
        {**site_grant, "client_secret": creds.client_secret + "x"},
        {**site_grant, "client_id": "client-nope"},
        {**user_grant, "password": "wrong"},
        {**user_grant, "username": "nobody"},
    ):
        for body in ({"data": bad}, {"json": bad}):
            assert_401(requests.post(server + "/token", timeout=30, **body), "INVALID_CREDENTIALS")
    bad_grant = requests.post(server + "/token", data={"grant_type": "implicit"}, timeout=30)
    assert (bad_grant.status_code, bad_grant.json()["code"]) == (422, "UNSUPPORTED_GRANT_TYPE")
    missing = requests.post(
        server + "/token", json={"grant_type": "client_credentials", "client_id": creds.client_id}, timeout=30
    )
    assert (missing.status_code, missing.json()["details"]) == (422, {"missing": ["client_secret"]})


def test_a_site_clients_verified_secret_is_remembered_and_nothing_else(store, admin, make_site, monkeypatch):
    """A run worker logs in once per run: a secret verified before skips its scrypt; a wrong secret,
    a user's password, a new secret and a revoked client are each checked in full."""
    scrypts = []
    real_scrypt = security.hashlib.scrypt
    monkeypatch.setattr(security.hashlib, "scrypt", lambda *a, **k: scrypts.append(1) or real_scrypt(*a, **k))
    site = make_site("site-remember", ["py"])
    client_id, secret = site.credentials.client_id, site.credentials.client_secret

    def logins(fn, *args) -> tuple[int, str]:
        before = len(scrypts)
        try:
            outcome = "ok" if fn(*args) else "?"
        except Unauthenticated as exc:
            outcome = exc.code
        return len(scrypts) - before, outcome

    assert logins(store.token_for_client, client_id, secret) == (1, "ok")
    assert logins(store.token_for_client, client_id, secret) == (0, "ok")
    for _ in range(2):  # a wrong guess is never remembered: each costs an scrypt
        assert logins(store.token_for_client, client_id, secret + "x") == (1, "INVALID_CREDENTIALS")
    assert not security.verify_secret_remembered(secret, security.hash_secret(secret + "x"))
    user, password = admin.credentials.username, admin.credentials.password
    for _ in range(2):  # people's passwords are not remembered
        assert logins(store.token_for_user, user, password) == (1, "ok")

    new = store.generate_credentials("site-remember")  # a new client: its own hash, checked afresh
    assert logins(store.token_for_client, new.client_id, new.client_secret) == (1, "ok")
    store.revoke_credentials("site-remember", client_id)  # remembered, but revoked: refused
    assert logins(store.token_for_client, client_id, secret)[1] == "INVALID_CREDENTIALS"
