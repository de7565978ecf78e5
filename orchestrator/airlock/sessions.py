"""Logging in to the airlock: a username and a single-use token, redeemed at the central server; a
session token (only its sha256 stored) that lapses after `airlock_session_days` unused; the person's
roles re-read from the jobs site every few minutes; failed logins limited per username and address."""

import hashlib
import logging
import secrets
from datetime import timedelta

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from orchestrator.airlock import schema as a
from orchestrator.airlock.central import Central, CentralUnavailable
from orchestrator.jobsite.models import Person
from orchestrator.runtime.errors import NotFound, PermissionDenied, TooManyAttempts, Unauthenticated
from orchestrator.runtime.schema import utcnow

log = logging.getLogger(__name__)
ROLES_FRESH_FOR = timedelta(minutes=5)
ROLES_USABLE_FOR = timedelta(hours=1)  # how long roles last when the central server cannot be asked again
COOKIE = "airlock_session"


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class Sessions:
    def __init__(self, db, central: Central, settings):
        self.db, self.central, self.settings = db, central, settings
        self.lifetime = timedelta(days=settings.airlock_session_days)

    def log_in(self, username: str, token: str, address: str) -> tuple[str, Person]:
        """(session token, person); the same refusal for every wrong, used or expired token."""
        keys = [_hash(f"user:{username}"), _hash(f"address:{address}")]
        self._check_rate(keys)
        try:
            person = self.central.redeem(username, token)
        except PermissionDenied:
            self._count_failure(keys)
            raise
        session, now = secrets.token_urlsafe(32), utcnow()
        with self.db.write() as conn:
            conn.execute(delete(a.login_failures).where(a.login_failures.c.key == keys[0]))
            conn.execute(
                insert(a.sessions).values(
                    token_hash=_hash(session),
                    username=person.username,
                    person=person.model_dump(mode="json"),
                    roles_read_at=now,
                    created_at=now,
                    last_used_at=now,
                )
            )
        self.db.audit(person.username, "login", detail=f"logged in from {address}")
        return session, person

    def _check_rate(self, keys: list[str]) -> None:
        window_start = utcnow() - timedelta(seconds=self.settings.airlock_login_window_seconds)
        with self.db.read() as conn:
            rows = conn.execute(select(a.login_failures).where(a.login_failures.c.key.in_(keys))).all()
        for row in rows:
            if row.window_started_at > window_start and row.failures >= self.settings.airlock_login_max_failures:
                wait = int((row.window_started_at - window_start).total_seconds()) + 1
                raise TooManyAttempts(
                    "TOO_MANY_ATTEMPTS",
                    f"Too many failed logins; wait {wait} s, then log in with a new single-use token.",
                    wait,
                )

    def _count_failure(self, keys: list[str]) -> None:
        now = utcnow()
        window_start = now - timedelta(seconds=self.settings.airlock_login_window_seconds)
        for key in keys:
            for _ in range(2):  # a concurrent first failure of the same key makes our insert collide once
                try:
                    with self.db.write() as conn:
                        hit = conn.execute(
                            update(a.login_failures)
                            .where(a.login_failures.c.key == key, a.login_failures.c.window_started_at > window_start)
                            .values(failures=a.login_failures.c.failures + 1)
                        ).rowcount
                        if not hit:
                            conn.execute(delete(a.login_failures).where(a.login_failures.c.key == key))
                            conn.execute(insert(a.login_failures).values(key=key, failures=1, window_started_at=now))
                    break
                except IntegrityError:
                    continue

    def person_for(self, session: str | None) -> Person:
        """The person behind a session token, their roles fresh within ROLES_FRESH_FOR; 401 otherwise."""
        if not session:
            raise Unauthenticated(
                "LOGIN_REQUIRED", "Log in with your username and a single-use token from the jobs site."
            )
        now = utcnow()
        with self.db.write() as conn:
            row = conn.execute(
                update(a.sessions)
                .where(a.sessions.c.token_hash == _hash(session), a.sessions.c.last_used_at > now - self.lifetime)
                .values(last_used_at=now)
                .returning(a.sessions)
            ).first()
        if row is None:
            raise Unauthenticated(
                "SESSION_EXPIRED",
                "Your session has ended; log in again with a new single-use token from the jobs site.",
            )
        person = Person.model_validate(row.person)
        if now - row.roles_read_at > ROLES_FRESH_FOR:
            person = self._refresh(row.token_hash, person, now, row.roles_read_at)
        return person

    def _refresh(self, token_hash: str, person: Person, now, read_at) -> Person:
        try:
            fresh = self.central.person(person.username)
        except NotFound:  # the person is gone from the jobs site: so is their session
            self.log_out_hash(token_hash)
            raise Unauthenticated(
                "SESSION_EXPIRED", f"{person.username} is no longer a user of the jobs site."
            ) from None
        except CentralUnavailable as exc:  # keep the roles we have for a while: the central server may be down
            if (
                now - read_at > ROLES_USABLE_FOR
            ):  # ... but not for ever: someone removed from a project must lose access
                raise CentralUnavailable(
                    "ROLES_UNKNOWN",
                    "The airlock cannot check your roles with the central server (unreachable for over an hour); "
                    "try again later.",
                ) from exc
            log.warning("could not re-read the roles of %s (%s); using those read at %s", person.username, exc, read_at)
            return person
        with self.db.write() as conn:
            conn.execute(
                update(a.sessions)
                .where(a.sessions.c.token_hash == token_hash)
                .values(person=fresh.model_dump(mode="json"), roles_read_at=now)
            )
        return fresh

    def log_out(self, session: str) -> None:
        self.log_out_hash(_hash(session))

    def log_out_hash(self, token_hash: str) -> None:
        with self.db.write() as conn:
            conn.execute(delete(a.sessions).where(a.sessions.c.token_hash == token_hash))
