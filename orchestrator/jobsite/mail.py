"""Sends the outbox (rows queued by notify.py) over SMTP: due rows oldest first, a bounded batch per SMTP
connection, a temporary failure retried with exponential backoff, a permanent refusal given up.

Each message goes out at most once. Before a row is sent it is claimed in a transaction of its own: a
conditional UPDATE that only one sender can win moves its `next_attempt_at` to NEVER, where no sender
looks. The outcome is written afterwards; when it cannot be -- the process died, the database went away,
the connection broke after DATA began -- the row stays claimed with a `last_error` that says so, and is
not sent again (the server may have the message; its Message-ID lets a receiver dedupe a manual resend).

A row's state, without a column of its own: `sent_at` set = sent; `next_attempt_at` = NEVER and no
`sent_at` = claimed, given up or outcome unknown (`last_error` says which); otherwise queued.
"""

import asyncio
import logging
import smtplib
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from enum import Enum
from urllib.parse import unquote, urlsplit

from sqlalchemy import select, update

from orchestrator.jobsite.schema import outbox
from orchestrator.runtime.schema import utcnow
from orchestrator.settings import Settings

log = logging.getLogger(__name__)

NEVER = datetime(9999, 12, 31, tzinfo=UTC)  # a claimed or finished row's next_attempt_at: no sender picks it
BATCH = 50
SMTP_TIMEOUT_SECONDS = 30
FIRST_BACKOFF_SECONDS = 5
MAX_BACKOFF_SECONDS = 600
# smtp_url scheme -> (TLS, default port)
SCHEMES = {"smtp": ("none", 25), "smtps": ("implicit", 465), "smtp+starttls": ("starttls", 587)}
# Bodies go out as quoted-printable or base64 when not ASCII: no 8BITMIME needed from the server.
MESSAGE_POLICY = policy.SMTP.clone(cte_type="7bit")


class Outcome(Enum):
    SENT = "sent"
    RETRY = "retry"  # not delivered: try again after a backoff
    GIVE_UP = "give up"  # refused for good, or out of attempts
    UNKNOWN = "unknown"  # the server may have it: never sent again
    SKIPPED = "skipped"  # another sender claimed it first


class OutcomeUnknown(Exception):
    """The connection failed after DATA began, so the server may or may not have taken the message."""


@dataclass(frozen=True)
class SmtpTarget:
    host: str
    port: int
    tls: str  # none | implicit | starttls
    username: str = ""
    password: str = ""


def parse_smtp_url(url: str) -> SmtpTarget | None:
    """ORCHESTRATOR_SMTP_URL as a target; None when empty (sending disabled)."""
    if not url:
        return None
    parts = urlsplit(url)
    try:
        tls, default_port = SCHEMES[parts.scheme]
        port = parts.port or default_port
    except (KeyError, ValueError):
        port = None
    if port is None or not parts.hostname:
        # Never echo the URL itself: it may hold a password.
        raise ValueError(
            "ORCHESTRATOR_SMTP_URL must look like smtp://user:password@host:port "
            f"(or smtps://, smtp+starttls://); its scheme is {parts.scheme!r}"
        )
    return SmtpTarget(parts.hostname, port, tls, unquote(parts.username or ""), unquote(parts.password or ""))


def backoff(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failed attempt: 5 s, 10 s, 20 s, ... at most 10 minutes."""
    return timedelta(seconds=min(FIRST_BACKOFF_SECONDS * 2 ** min(attempts - 1, 20), MAX_BACKOFF_SECONDS))


class OutboxSender:
    """Sends due outbox rows through `store` (anything with the runtime Store's write()/read())."""

    def __init__(self, store, settings: Settings | None = None, batch_size: int = BATCH):
        self.store = store
        self.settings = settings or store.settings
        self.target = parse_smtp_url(self.settings.smtp_url)
        self.sender = parseaddr(self.settings.mail_from)[1] or self.settings.mail_from
        self.batch_size = batch_size
        self._warned_disabled = False

    async def run(self, stop_event: asyncio.Event | None = None) -> None:
        """Send what is due every `mail_poll_seconds`, off the event loop, until `stop_event` is set (or the
        task is cancelled). A failure is logged and the next round tries again."""
        stop_event = stop_event or asyncio.Event()
        while not stop_event.is_set():
            try:
                await asyncio.to_thread(self.send_due)
            except Exception:  # the database or the server failing must not end the loop
                log.exception("sending the outbox failed; trying again")
            try:
                await asyncio.wait_for(stop_event.wait(), self.settings.mail_poll_seconds)
            except TimeoutError:
                pass

    def send_due(self, now: datetime | None = None) -> int:
        """Send up to one batch of due, unsent rows, oldest first, over one SMTP connection; how many were sent."""
        if self.target is None:
            if not self._warned_disabled:
                log.warning("ORCHESTRATOR_SMTP_URL is not set: emails stay queued in the outbox, unsent")
                self._warned_disabled = True
            return 0
        now = now or utcnow()
        rows = self._due(now)
        if not rows:
            return 0
        try:
            smtp = self._connect()
        except Exception as exc:  # nothing was claimed: every row simply waits for its next attempt
            log.warning("cannot reach the SMTP server %s:%d (%s)", self.target.host, self.target.port, describe(exc))
            self._defer(rows, now, describe(exc))
            return 0
        sent = 0
        try:
            for row in rows:
                outcome, usable = self._send_one(smtp, row, now)
                sent += outcome is Outcome.SENT
                if not usable:
                    break  # the rest wait for the next round and a new connection
        finally:
            _close(smtp)
        return sent

    def _due(self, now: datetime) -> list:
        o = outbox.c
        query = select(outbox).where(o.sent_at.is_(None), o.next_attempt_at <= now).order_by(o.seq)
        with self.store.read() as conn:
            return conn.execute(query.limit(self.batch_size)).all()

    def _send_one(self, smtp: smtplib.SMTP, row, now: datetime) -> tuple[Outcome, bool]:
        """Claim, send and record one row; the outcome, and whether the connection can carry the next."""
        if not self._claim(row, now):
            return Outcome.SKIPPED, True
        try:
            transmit(smtp, self._message(row), self.sender, row.recipient)
            outcome, usable, error = Outcome.SENT, True, None
        except Exception as exc:
            (outcome, usable), error = classify(exc), describe(exc)
            if usable:
                usable = _reset(smtp)
        self._record(row, outcome, error, now)
        return outcome, usable

    def _claim(self, row, now: datetime) -> bool:
        """Take the row for this sender alone, committed before anything reaches the server. PostgreSQL
        re-checks the condition once a concurrent claimer's lock is released; SQLite serialises writers."""
        o = outbox.c
        claim = (
            update(outbox)
            .where(o.seq == row.seq, o.sent_at.is_(None), o.next_attempt_at <= now)
            .values(
                next_attempt_at=NEVER,
                attempts=o.attempts + 1,
                last_error=f"sending since {now:%Y-%m-%d %H:%M:%S} UTC; if this stays, the sender stopped before "
                "it knew whether the server took the message, and it is not sent again",
            )
        )
        with self.store.write() as conn:
            return conn.execute(claim).rowcount == 1

    def _record(self, row, outcome: Outcome, error: str | None, now: datetime) -> None:
        attempts = row.attempts + 1
        values = {
            Outcome.SENT: lambda: {"sent_at": now, "last_error": None},
            Outcome.RETRY: lambda: self._failure(attempts, now, error),
            Outcome.GIVE_UP: lambda: {"last_error": f"given up: {error}"},
            Outcome.UNKNOWN: lambda: {"last_error": f"outcome unknown, not sent again: {error}"},
        }[outcome]()
        with self.store.write() as conn:
            conn.execute(update(outbox).where(outbox.c.seq == row.seq).values(**values))
        _log_outcome(row, outcome, values)

    def _defer(self, rows: list, now: datetime, error: str) -> None:
        """Count a failed attempt on rows that were never claimed (the server could not be reached)."""
        o = outbox.c
        with self.store.write() as conn:
            for row in rows:
                conn.execute(
                    update(outbox)
                    .where(o.seq == row.seq, o.sent_at.is_(None), o.next_attempt_at <= now)
                    .values(attempts=o.attempts + 1, **self._failure(row.attempts + 1, now, error))
                )

    def _failure(self, attempts: int, now: datetime, error: str) -> dict:
        if attempts >= self.settings.mail_max_attempts:
            return {"next_attempt_at": NEVER, "last_error": f"given up after {attempts} attempts: {error}"}
        return {"next_attempt_at": now + backoff(attempts), "last_error": error}

    def _message(self, row) -> EmailMessage:
        message = EmailMessage(policy=MESSAGE_POLICY)
        message["From"] = self.settings.mail_from
        message["To"] = Address(addr_spec=row.recipient)  # exactly one address, or ValueError
        message["Subject"] = row.subject
        message["Date"] = format_datetime(row.created_at)
        message["Message-ID"] = f"<{row.message_id}>"
        message.set_content(row.body)
        return message

    def _connect(self) -> smtplib.SMTP:
        target, context = self.target, ssl.create_default_context()
        if target.tls == "implicit":
            smtp = smtplib.SMTP_SSL(target.host, target.port, timeout=SMTP_TIMEOUT_SECONDS, context=context)
        else:
            smtp = smtplib.SMTP(target.host, target.port, timeout=SMTP_TIMEOUT_SECONDS)
        try:
            if target.tls == "starttls":
                smtp.starttls(context=context)
            if target.username:
                smtp.login(target.username, target.password)
        except BaseException:
            smtp.close()
            raise
        return smtp


def transmit(smtp: smtplib.SMTP, message: EmailMessage, sender: str, recipient: str) -> None:
    """MAIL FROM, RCPT TO, then DATA, step by step (not sendmail), so that only a failure after DATA began
    is raised as OutcomeUnknown; anything raised before it means the server does not have the message."""
    international = not (sender + recipient).isascii()
    if international and not smtp.has_extn("smtputf8"):
        raise smtplib.SMTPNotSupportedError("the address needs SMTPUTF8, which the server does not offer")
    payload = message.as_bytes(policy=message.policy.clone(utf8=international))
    smtp.ehlo_or_helo_if_needed()
    code, reply = smtp.mail(sender, ["SMTPUTF8", "BODY=8BITMIME"] if international else [])
    if code != 250:
        raise smtplib.SMTPSenderRefused(code, reply, sender)
    code, reply = smtp.rcpt(recipient)
    if code not in (250, 251):
        raise smtplib.SMTPRecipientsRefused({recipient: (code, reply)})
    try:
        code, reply = smtp.data(payload)
    except smtplib.SMTPResponseException:
        raise  # DATA itself was refused: the message never went
    except Exception as exc:
        raise OutcomeUnknown(describe(exc)) from exc
    if code != 250:
        raise smtplib.SMTPDataError(code, reply)


def classify(exc: Exception) -> tuple[Outcome, bool]:
    """What a failure to send means for the message, and whether the connection can carry the next one.
    A 5xx reply to the recipient or the message is permanent; a 4xx reply or a broken connection is not."""
    match exc:
        case OutcomeUnknown():
            return Outcome.UNKNOWN, False
        case smtplib.SMTPRecipientsRefused():
            return _by_code(min(code for code, _ in exc.recipients.values())), True
        case smtplib.SMTPDataError():
            return _by_code(exc.smtp_code), True
        case smtplib.SMTPSenderRefused():  # our own address: a setting to fix, not a message to drop
            return Outcome.RETRY, True
        case smtplib.SMTPNotSupportedError() | ValueError():  # a message this server can never take
            return Outcome.GIVE_UP, True
        case _:  # a broken connection, or a failure before anything was sent: retry on a new connection
            return Outcome.RETRY, False


def describe(exc: BaseException) -> str:
    match exc:
        case smtplib.SMTPRecipientsRefused():
            return "; ".join(f"{rcpt}: {code} {_text(reply)}" for rcpt, (code, reply) in exc.recipients.items())
        case smtplib.SMTPResponseException():
            return f"{exc.smtp_code} {_text(exc.smtp_error)}"
        case _:
            return f"{type(exc).__name__}: {exc}"


def _by_code(code: int) -> Outcome:
    return Outcome.GIVE_UP if code >= 500 else Outcome.RETRY


def _text(reply: bytes | str) -> str:
    return reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)


def _reset(smtp: smtplib.SMTP) -> bool:
    """RSET after a refused message, so the connection can carry the next; False when it cannot."""
    try:
        return smtp.rset()[0] == 250
    except OSError:
        return False


def _close(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except OSError:
        smtp.close()


def _log_outcome(row, outcome: Outcome, values: dict) -> None:
    level = {Outcome.SENT: logging.INFO, Outcome.RETRY: logging.INFO, Outcome.UNKNOWN: logging.ERROR}
    log.log(
        level.get(outcome, logging.WARNING),
        "email %s to %s: %s%s",
        row.message_id,
        row.recipient,
        outcome.value,
        f" ({values['last_error']})" if values.get("last_error") else "",
    )
