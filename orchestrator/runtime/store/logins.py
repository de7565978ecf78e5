"""The rate limit on failed logins: fixed-window counters in the database, so every server worker sees the
same count. Each failure counts against three keys: the id from this address, the address over all
ids, and the id over all addresses; any key at its limit refuses further logins (429) until its window ends.
"""

import hashlib
import math
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from orchestrator.runtime import schema as s
from orchestrator.runtime.errors import TooManyAttempts
from orchestrator.runtime.schema import utcnow
from orchestrator.runtime.store.base import StoreBase


def _key(*parts: str) -> str:
    # Hashed: fixed length whatever the caller sends, and no user names or addresses at rest.
    return hashlib.sha256("\0".join(parts).encode("utf-8", "backslashreplace")).hexdigest()


class LoginLimitStore(StoreBase):
    def _login_keys(self, kind: str, id_: str, address: str) -> dict[str, int]:
        """Each counter key of this login with its limit."""
        settings = self.settings
        return {
            _key("pair", kind, id_, address): settings.login_max_failures,
            _key("address", address): settings.login_max_failures_per_address,
            _key("id", kind, id_): settings.login_max_failures_per_id,
        }

    def check_login_allowed(self, kind: str, id_: str, address: str) -> bool:
        """Raise TooManyAttempts if any counter of this login is at its limit in the current window; else
        whether this id has failed from this address lately (a success then clears that)."""
        keys, now = self._login_keys(kind, id_, address), utcnow()
        table = s.login_failures
        with self.read() as conn:
            rows = conn.execute(
                select(table).where(table.c.key.in_(keys), table.c.window_start > self._window_cutoff(now))
            ).all()
        blocked = [row for row in rows if row.failures >= keys[row.key]]
        if blocked:
            window = timedelta(seconds=self.settings.login_failure_window_seconds)
            wait = max(math.ceil((row.window_start + window - now).total_seconds()) for row in blocked)
            raise TooManyAttempts(
                "TOO_MANY_ATTEMPTS", f"Too many failed logins; try again in {wait} seconds.", max(wait, 1)
            )
        return any(row.key == _key("pair", kind, id_, address) for row in rows)

    def record_login_failure(self, kind: str, id_: str, address: str) -> None:
        now, table = utcnow(), s.login_failures
        cutoff = self._window_cutoff(now)
        for _ in range(3):  # a concurrent first failure of the same key makes our insert collide; count again
            try:
                with self.write() as conn:
                    conn.execute(delete(table).where(table.c.window_start <= cutoff))  # only live windows are kept
                    for key in self._login_keys(kind, id_, address):
                        counted = conn.execute(
                            update(table).where(table.c.key == key).values(failures=table.c.failures + 1)
                        ).rowcount
                        if not counted:
                            conn.execute(insert(table).values(key=key, window_start=now, failures=1))
                return
            except IntegrityError:
                continue

    def clear_login_failures(self, kind: str, id_: str, address: str) -> None:
        """A successful login forgets this id's failures from this address (not the other counters)."""
        with self.write() as conn:
            conn.execute(delete(s.login_failures).where(s.login_failures.c.key == _key("pair", kind, id_, address)))

    def _window_cutoff(self, now: datetime) -> datetime:
        return now - timedelta(seconds=self.settings.login_failure_window_seconds)
