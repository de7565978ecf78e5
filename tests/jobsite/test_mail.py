"""The outbox sender against a real SMTP server (aiosmtpd on loopback), on SQLite and PostgreSQL: delivery
with the row's Message-ID, retries with backoff while the server is down, two senders sending each message
once, the asyncio loop, permanent refusals, and the at-most-once crash window."""

import asyncio
import logging
import threading
import time
from datetime import timedelta
from email.utils import parsedate_to_datetime

import pytest
from sqlalchemy import insert, select

from orchestrator.jobsite import migrate
from orchestrator.jobsite.mail import NEVER, OutboxSender, SmtpTarget, backoff, parse_smtp_url
from orchestrator.jobsite.notify import message_id_for
from orchestrator.jobsite.schema import outbox
from orchestrator.runtime.schema import utcnow
from orchestrator.runtime.store import Store
from tests.jobsite.smtp import REJECTED, Mailbox, free_port  # noqa: F401  (its fixtures come from conftest)


@pytest.fixture
def mail_settings(settings, port):
    return settings.model_copy(
        update={"smtp_url": f"smtp://127.0.0.1:{port}", "mail_from": "jobs@example.org", "mail_poll_seconds": 0.05}
    )


@pytest.fixture
def jobsite_store(store):
    migrate.upgrade(store.writer)
    return store


@pytest.fixture
def sender(jobsite_store, mail_settings):
    return OutboxSender(jobsite_store, mail_settings)


def queue(store, count: int, recipient: str = "ada@example.org", prefix: str = "m") -> list[str]:
    """Insert `count` due outbox rows; their message ids, oldest first."""
    now = utcnow()
    rows = [
        {
            "message_id": message_id_for(f"{prefix}.{i}"),
            "recipient": recipient,
            "subject": f"[ws] action {i}: succeeded ✓",
            "body": f"The job for action {i} of Zoë has succeeded.\n",
            "created_at": now,
            "attempts": 0,
            "next_attempt_at": now,
        }
        for i in range(count)
    ]
    with store.write() as conn:
        conn.execute(insert(outbox), rows)
    return [row["message_id"] for row in rows]


def outbox_rows(store) -> dict:
    with store.read() as conn:
        return {row.message_id: row for row in conn.execute(select(outbox).order_by(outbox.c.seq))}


def wait_until(condition, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_queued_rows_are_delivered_once_with_the_rows_message_id(jobsite_store, sender, smtp_server, mailbox):
    ids = queue(jobsite_store, 3)
    assert sender.send_due() == 3
    assert sender.send_due() == 0
    assert mailbox.message_ids() == [f"<{message_id}>" for message_id in ids]  # oldest first, each once
    rows = outbox_rows(jobsite_store)
    for message, message_id in zip(mailbox.messages, ids, strict=True):
        row = rows[message_id]
        assert (message["From"], message["To"], message["Subject"]) == ("jobs@example.org", row.recipient, row.subject)
        assert parsedate_to_datetime(message["Date"]) == row.created_at.replace(microsecond=0)
        assert message.get_content().replace("\r\n", "\n") == row.body
        assert (row.attempts, row.last_error) == (1, None)
        assert row.sent_at is not None
    assert mailbox.envelopes == [("jobs@example.org", ["ada@example.org"])] * 3


def test_a_server_that_is_down_is_retried_with_backoff_then_each_row_goes_once(
    jobsite_store, sender, start_server, mailbox
):
    ids = queue(jobsite_store, 2)
    t0 = utcnow()
    assert sender.send_due(t0) == 0  # nothing listens on the port yet
    for row in outbox_rows(jobsite_store).values():
        assert (row.attempts, row.sent_at, row.next_attempt_at) == (1, None, t0 + timedelta(seconds=5))
        assert "ConnectionRefusedError" in row.last_error
    assert sender.send_due(t0 + timedelta(seconds=4)) == 0  # not due yet: no attempt counted
    assert {row.attempts for row in outbox_rows(jobsite_store).values()} == {1}
    t1 = t0 + timedelta(seconds=5)
    assert sender.send_due(t1) == 0
    assert {(row.attempts, row.next_attempt_at) for row in outbox_rows(jobsite_store).values()} == {
        (2, t1 + timedelta(seconds=10))
    }

    start_server()
    assert sender.send_due(t1 + timedelta(seconds=9)) == 0  # up, but the rows wait out their backoff
    t2 = t1 + timedelta(seconds=10)
    assert sender.send_due(t2) == 2
    assert sender.send_due(t2 + timedelta(hours=1)) == 0
    assert sorted(mailbox.message_ids()) == sorted(f"<{message_id}>" for message_id in ids)
    rows = outbox_rows(jobsite_store).values()
    assert {(row.attempts, row.sent_at, row.last_error) for row in rows} == {(3, t2, None)}


def test_two_senders_at_once_deliver_each_message_exactly_once(jobsite_store, mail_settings, smtp_server, mailbox):
    ids = queue(jobsite_store, 30)
    mailbox.delay = 0.01  # each delivery takes a moment, so the senders interleave
    other_store = Store.open(mail_settings)
    senders = [OutboxSender(jobsite_store, mail_settings, batch_size=10), OutboxSender(other_store, mail_settings)]
    start, sent, errors = threading.Barrier(2), [0, 0], []

    def drain(i: int) -> None:
        try:
            start.wait()
            deadline = time.monotonic() + 30
            while any(row.sent_at is None for row in outbox_rows(jobsite_store).values()):
                assert time.monotonic() < deadline
                sent[i] += senders[i].send_due()
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=drain, args=(i,)) for i in range(2)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        other_store.dispose()
    assert errors == []
    assert sorted(mailbox.message_ids()) == sorted(f"<{message_id}>" for message_id in ids)
    assert sum(sent) == 30 and min(sent) > 0, sent  # both took part, and neither sent anything twice
    assert {row.attempts for row in outbox_rows(jobsite_store).values()} == {1}


def test_the_loop_delivers_rows_queued_while_it_runs_survives_failures_and_stops(
    jobsite_store, sender, smtp_server, mailbox, caplog
):
    real_send_due, calls = sender.send_due, []

    def flaky_send_due():
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("database blip")
        return real_send_due()

    sender.send_due = flaky_send_due

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(sender.run(stop))
        while len(calls) < 2:  # past the failure: the loop went on
            await asyncio.sleep(0.01)
        (message_id,) = await asyncio.to_thread(queue, jobsite_store, 1)
        deadline = time.monotonic() + 10
        while mailbox.message_ids() != [f"<{message_id}>"]:
            assert time.monotonic() < deadline, "the loop did not deliver the row"
            await asyncio.sleep(0.02)
        stop.set()
        await asyncio.wait_for(task, 2)  # stops at once, not after its poll interval
        assert task.exception() is None

    with caplog.at_level(logging.ERROR, logger="orchestrator.jobsite.mail"):
        asyncio.run(scenario())
    assert "sending the outbox failed" in caplog.text
    assert [row.sent_at is not None for row in outbox_rows(jobsite_store).values()] == [True]


def test_a_permanent_refusal_is_not_retried_and_does_not_block_the_rest(jobsite_store, sender, smtp_server, mailbox):
    (refused,) = queue(jobsite_store, 1, recipient=REJECTED, prefix="bad")  # the oldest
    (malformed,) = queue(jobsite_store, 1, recipient="ada@example.org, eve@example.org", prefix="two")
    delivered = queue(jobsite_store, 2)
    assert sender.send_due() == 2
    assert mailbox.message_ids() == [f"<{message_id}>" for message_id in delivered]
    rows = outbox_rows(jobsite_store)
    for message_id, error in ((refused, "550 5.1.1 No such user"), (malformed, "Invalid addr_spec")):
        row = rows[message_id]
        assert (row.sent_at, row.attempts, row.next_attempt_at) == (None, 1, NEVER)
        assert row.last_error.startswith("given up: ") and error in row.last_error
    assert sender.send_due(utcnow() + timedelta(days=365)) == 0
    assert mailbox.rcpt_attempts.count(REJECTED) == 1


def test_a_message_the_server_may_have_taken_is_never_sent_again(jobsite_store, sender, smtp_server, mailbox):
    first, second = queue(jobsite_store, 2)
    mailbox.drop_after_data = True  # the server takes the first message, then the connection breaks
    assert sender.send_due() == 0
    mailbox.drop_after_data = False
    assert sender.send_due() == 1  # the second row, on a new connection
    assert sender.send_due(utcnow() + timedelta(days=365)) == 0
    assert mailbox.message_ids() == [f"<{first}>", f"<{second}>"]
    row = outbox_rows(jobsite_store)[first]
    assert (row.sent_at, row.next_attempt_at) == (None, NEVER)
    assert row.last_error.startswith("outcome unknown, not sent again")


def test_a_sender_that_dies_before_marking_a_row_sent_does_not_resend_it(
    jobsite_store, sender, mail_settings, smtp_server, mailbox
):
    (message_id,) = queue(jobsite_store, 1)

    def crash(*args):
        raise RuntimeError("killed after the server accepted the message")

    sender._record = crash
    with pytest.raises(RuntimeError):
        sender.send_due()
    restarted = OutboxSender(jobsite_store, mail_settings)
    assert restarted.send_due(utcnow() + timedelta(days=365)) == 0
    assert mailbox.message_ids() == [f"<{message_id}>"]
    row = outbox_rows(jobsite_store)[message_id]
    assert (row.sent_at, row.attempts, row.next_attempt_at) == (None, 1, NEVER)
    assert row.last_error.startswith("sending since")


def test_without_an_smtp_url_rows_stay_queued_and_one_warning_is_logged(jobsite_store, settings, caplog):
    queue(jobsite_store, 1)
    sender = OutboxSender(jobsite_store, settings)
    with caplog.at_level(logging.WARNING, logger="orchestrator.jobsite.mail"):
        assert sender.send_due() == 0
        assert sender.send_due() == 0
    assert caplog.text.count("ORCHESTRATOR_SMTP_URL is not set") == 1
    assert [(row.attempts, row.sent_at) for row in outbox_rows(jobsite_store).values()] == [(0, None)]


@pytest.mark.parametrize(
    "url, target",
    [
        ("smtp://mail.example.org", SmtpTarget("mail.example.org", 25, "none")),
        ("smtps://u%40x:p%2Fw@mail.example.org", SmtpTarget("mail.example.org", 465, "implicit", "u@x", "p/w")),
        ("smtp+starttls://u:pw@mail.example.org:2525", SmtpTarget("mail.example.org", 2525, "starttls", "u", "pw")),
        ("", None),
    ],
)
def test_smtp_urls(url, target):
    assert parse_smtp_url(url) == target


@pytest.mark.parametrize("url", ["http://u:secret@host", "smtp://u:secret@host:notaport", "smtp://"])
def test_a_bad_smtp_url_is_refused_without_echoing_its_password(url):
    with pytest.raises(ValueError, match="ORCHESTRATOR_SMTP_URL") as error:
        parse_smtp_url(url)
    assert "secret" not in str(error.value)


def test_backoff_doubles_from_5_seconds_up_to_10_minutes():
    assert [backoff(n).total_seconds() for n in (1, 2, 3, 7, 8, 50)] == [5, 10, 20, 320, 600, 600]
