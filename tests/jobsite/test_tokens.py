"""Single-use login tokens: three words, hashed, an hour, used once, guessing burns them, only a site
redeems them, and the person hears by email when one is made and when it is used."""

import threading
from datetime import timedelta

from sqlalchemy import select, update

from orchestrator.jobsite import schema as t
from orchestrator.jobsite.store.tokens import MAX_ATTEMPTS, word_list
from orchestrator.runtime.schema import utcnow
from tests.utils.api import assert_error


def make_token(world, as_="developer") -> str:
    response = world.call("POST", "/api/me/login-token", as_=as_)
    assert response.status_code == 201, response.text
    return response.json()["token"]


def redeem(world, username, token, as_="site-a"):
    return world.call("POST", "/api/login-tokens:redeem", as_=as_, json={"username": username, "token": token})


def token_row(world, username):
    with world.store.read() as conn:
        return conn.execute(select(t.login_tokens).where(t.login_tokens.c.user_id == username)).first()


def outbox(world, recipient):
    with world.store.read() as conn:
        rows = conn.execute(select(t.outbox).where(t.outbox.c.recipient == recipient).order_by(t.outbox.c.seq))
        return [(row.subject, row.body) for row in rows]


def test_the_word_list_is_a_maintained_one_of_thousands_of_plain_words():
    words = word_list()
    assert len(words) >= 2000 and len(set(words)) == len(words)
    assert all(w.isalpha() and w.islower() for w in words)


def test_a_token_is_three_words_stored_hashed_that_logs_a_person_in_once(world):
    made = world.call("POST", "/api/me/login-token", as_="developer").json()
    words = made["token"].split(" ")
    assert len(words) == 3 and set(words) <= set(word_list()), made
    assert made["username"] == "developer"
    row = token_row(world, "developer")
    assert row.token_hash.startswith("scrypt$") and made["token"] not in row.token_hash
    lifetime = row.expires_at - row.created_at
    assert lifetime == timedelta(hours=1)

    typed = "  " + "-".join(w.upper() for w in words) + " "  # capitals, dashes and spaces as people type them
    response = redeem(world, "developer", typed)
    assert response.status_code == 200, response.text
    person = response.json()
    assert person["username"] == "developer" and person["memberships"] == {"alpha": ["ProjectDeveloper"]}
    assert person["email"] is None  # the site learns roles, not addresses
    assert token_row(world, "developer").used_by_site == "site-a"

    assert_error(redeem(world, "developer", made["token"]), 403, "LOGIN_TOKEN_REFUSED")  # used

    mails = outbox(world, "developer@example.org")
    assert [subject for subject, _ in mails] == [
        "A single-use token was made for you",
        "Your single-use token was used at site-a",
    ]
    assert made["token"] not in mails[0][1]  # the words travel only in the answer to who made it


def test_every_refusal_is_the_same_and_says_what_to_do(world):
    token = make_token(world)
    first = assert_error(redeem(world, "developer", "wrong words here"), 403, "LOGIN_TOKEN_REFUSED")
    for username, typed in [
        ("nobody", token),  # no such person
        ("checker", token),  # a person without a token
        ("collaborator", "a b c"),
    ]:
        body = assert_error(redeem(world, username, typed), 403, "LOGIN_TOKEN_REFUSED")
        assert body["message"] == first["message"] and "Make a new token" in body["message"]

    replaced = token
    token = make_token(world)  # a new token ends the last one
    assert_error(redeem(world, "developer", replaced), 403, "LOGIN_TOKEN_REFUSED")

    with world.store.write() as conn:  # an hour later
        conn.execute(update(t.login_tokens).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert_error(redeem(world, "developer", token), 403, "LOGIN_TOKEN_REFUSED")
    assert token_row(world, "developer").used_at is None


def test_guessing_burns_the_token_even_when_the_guesses_come_at_once(world):
    token = make_token(world)
    results = []
    threads = [
        threading.Thread(target=lambda i=i: results.append(redeem(world, "developer", f"guess number {i}").status_code))
        for i in range(3 * MAX_ATTEMPTS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [403] * (3 * MAX_ATTEMPTS)
    assert token_row(world, "developer").attempts == MAX_ATTEMPTS  # no more checks than allowed, at once or not
    assert_error(redeem(world, "developer", token), 403, "LOGIN_TOKEN_REFUSED")  # the right one, too late


def test_two_airlocks_redeeming_one_token_at_once_log_in_once(world):
    token = make_token(world)
    results = []
    barrier = threading.Barrier(4)

    def attempt():
        barrier.wait()
        results.append(redeem(world, "developer", token).status_code)

    threads = [threading.Thread(target=attempt) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [200, 403, 403, 403]


def test_only_a_sites_credentials_redeem_and_only_a_person_makes_tokens(world):
    token = make_token(world)
    assert_error(redeem(world, "developer", token, as_="anonymous"), 401, "LOGIN_REQUIRED")
    for role in ("developer", "admin", "checker"):
        assert_error(redeem(world, "developer", token, as_=role), 403, "SITE_CREDENTIALS_REQUIRED")
    assert token_row(world, "developer").attempts == 0  # refusing the caller spends none of the token's tries
    assert_error(world.call("POST", "/api/me/login-token", as_="anonymous"), 401, "LOGIN_REQUIRED")
    assert_error(world.call("POST", "/api/me/login-token", as_="site-a"), 401, "LOGIN_REQUIRED")
    assert redeem(world, "developer", token).status_code == 200
