"""Single-use login tokens: a person makes one on the jobs site and types it at a site's airlock, which
has it checked and consumed here with the site's credentials (DESIGN §8). Three words from the EFF
long list (xkcdpass), scrypt-hashed, valid an hour, used once; each check counts, so guessing burns it."""

import re
import secrets
from datetime import timedelta
from functools import cache

from sqlalchemy import delete, insert, update
from xkcdpass import xkcd_password

from orchestrator.jobsite import schema as t
from orchestrator.jobsite.models import LoginToken, LoginTokenRedeem, Person
from orchestrator.jobsite.notify import queue_email
from orchestrator.jobsite.permissions import Actor
from orchestrator.jobsite.store.base import JobsiteBase, require_site
from orchestrator.runtime.errors import PermissionDenied, Unauthenticated
from orchestrator.runtime.models import Principal
from orchestrator.runtime.schema import utcnow
from orchestrator.runtime.security import hash_secret, verify_secret

TOKEN_WORDS = 3
TOKEN_LIFETIME = timedelta(hours=1)
MAX_ATTEMPTS = 5  # checks a token survives; with 7,776^3 tokens, 5 guesses have a 1 in 9e10 chance
# A hash of no token, checked when a person has none, so a refusal costs the same whether or not they do.
_NO_TOKEN_HASH = hash_secret(secrets.token_hex(16))

REFUSED = (
    "LOGIN_TOKEN_REFUSED",
    "The username or single-use token is wrong, used or expired. Make a new token on the jobs site "
    "(Settings, or `orchestrator tokens create`) and log in with it within the hour.",
)


@cache
def word_list() -> tuple[str, ...]:
    words = xkcd_password.generate_wordlist(wordfile=xkcd_password.locate_wordfile("eff-long"), min_length=3)
    return tuple(sorted({w for w in words if w.isalpha() and w.isascii() and w.islower()}))


def normalise(token: str) -> str:
    """'Apple  banana-Cherry' -> 'apple banana cherry': people type tokens with capitals and dashes."""
    return " ".join(re.findall(r"[a-z]+", token.lower()))


class TokenStore(JobsiteBase):
    def create_login_token(self, actor: Actor) -> LoginToken:
        """A new token for the logged-in person (any role, or none); replaces one they had."""
        if actor.user_id is None:
            raise Unauthenticated("LOGIN_REQUIRED", "Log in to make a single-use token for the airlock.")
        words = word_list()
        token = " ".join(secrets.choice(words) for _ in range(TOKEN_WORDS))
        now = utcnow()
        row = {
            "user_id": actor.user_id,
            "token_hash": hash_secret(token),
            "created_at": now,
            "expires_at": now + TOKEN_LIFETIME,
            "attempts": 0,
            "used_at": None,
            "used_by_site": None,
        }
        with self.write() as conn:
            conn.execute(delete(t.login_tokens).where(t.login_tokens.c.user_id == actor.user_id))
            conn.execute(insert(t.login_tokens).values(row))
            queue_email(
                conn,
                actor.user_id,
                f"login-token.{actor.user_id}.{now.isoformat()}.made",
                "A single-use token was made for you",
                f"A single-use token to log in to an airlock was made for {actor.user_id} at "
                f"{now:%Y-%m-%d %H:%M} UTC. It works once, until {row['expires_at']:%H:%M} UTC.\n\n"
                "If you did not make it, make a new one at once (that ends this one) and tell an admin.\n",
            )
        return LoginToken(username=actor.user_id, token=token, expires_at=row["expires_at"])

    def redeem_login_token(self, spec: LoginTokenRedeem, principal: Principal | None) -> Person:
        """Check and consume a person's token, for a site's airlock; the person and their roles.

        Every way a token can fail (no such person, none made, wrong, used, expired, too many tries)
        answers the same refusal. A check first takes one of the token's attempts in a conditional
        UPDATE, so concurrent guesses cannot get more than MAX_ATTEMPTS between them, and two
        concurrent right answers consume it once (the second finds it used)."""
        require_site(principal, "check single-use tokens")
        token, now = normalise(spec.token), utcnow()
        live = (
            (t.login_tokens.c.user_id == spec.username)
            & t.login_tokens.c.used_at.is_(None)
            & (t.login_tokens.c.expires_at > now)
        )
        with self.write() as conn:
            taken = conn.execute(
                update(t.login_tokens)
                .where(live & (t.login_tokens.c.attempts < MAX_ATTEMPTS))
                .values(attempts=t.login_tokens.c.attempts + 1)
                .returning(t.login_tokens.c.token_hash)
            ).first()
        if not verify_secret(token, taken.token_hash if taken else _NO_TOKEN_HASH) or taken is None:
            raise PermissionDenied(*REFUSED)
        with self.write() as conn:
            used = conn.execute(
                update(t.login_tokens)
                .where(live & (t.login_tokens.c.token_hash == taken.token_hash))
                .values(used_at=now, used_by_site=principal.id)
            ).rowcount
            if not used:  # consumed (or replaced) by another check since this one took its attempt
                raise PermissionDenied(*REFUSED)
            queue_email(
                conn,
                spec.username,
                f"login-token.{spec.username}.{now.isoformat()}.used",
                f"Your single-use token was used at {principal.id}",
                f"Your single-use token logged {spec.username} in to the airlock of site {principal.id} "
                f"at {now:%Y-%m-%d %H:%M:%S} UTC.\n\nIf that was not you, tell an admin now.\n",
            )
        return self.get_person(spec.username, Actor())
