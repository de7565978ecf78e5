"""Notifications end to end in the serving process: a request with will_notify, the site's reports, the
outbox rows written with them, and the server's own sender loop delivering each email once to a real
SMTP server (aiosmtpd on loopback) -- also when that server is down at first and comes back."""

import time

from orchestrator.jobsite.store import JobsiteStore
from orchestrator.runtime.models import OperationPatch, Principal
from orchestrator.runtime.store import Store
from orchestrator.server import create_app
from tests.conftest import LiveServer

SITE_A = Principal(kind="site", id="site-a")
DONE = {"state": "succeeded", "decision": "run", "status_code": "SUCCEEDED", "status_message": "Completed successfully"}


def wait_for_messages(mailbox, count: int, timeout: float = 20) -> list:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(mailbox.messages) >= count:
            return mailbox.messages
        time.sleep(0.05)
    raise AssertionError(f"{len(mailbox.messages)} message(s) arrived, not {count}")


def test_each_finished_job_emails_the_requester_once_even_if_smtp_was_down(
    world, settings, start_server, port, mailbox
):
    request = world.call(
        "POST",
        "/api/job-requests",
        json={"workspace": "alpha-main", "requested_actions": ["run_all"], "will_notify": True},
    ).json()
    (op,) = world.store.claim_next("pipeline-1.0.0", SITE_A)
    world.store.update_operation(op.id, SITE_A, OperationPatch(metadata={"actions": {"prepare": DONE}}))
    # The serving process sends with its own settings; nothing listens on the SMTP port yet.
    mailing = settings.model_copy(
        update={"smtp_url": f"smtp://127.0.0.1:{port}", "mail_from": "jobs@example.org", "mail_poll_seconds": 0.05}
    )
    server_store = Store(mailing)
    with LiveServer(server_store, create_app(server_store, JobsiteStore(server_store))):
        time.sleep(0.5)  # a few of the loop's turns fail to connect
        start_server()
        (first,) = wait_for_messages(mailbox, 1)
        world.store.update_operation(
            op.id, SITE_A, OperationPatch(metadata={"actions": {"report": DONE}}, done=True, result={"ok": True})
        )
        wait_for_messages(mailbox, 2)
        time.sleep(0.5)  # long enough for a duplicate to show up
    server_store.dispose()
    assert len(mailbox.messages) == 2
    second = mailbox.messages[1]
    assert first["To"] == second["To"] == "developer@example.org" and first["From"] == "jobs@example.org"
    assert "prepare" in first["Subject"] and "succeeded" in first["Subject"]
    assert request["id"] in first.get_content() and "SUCCEEDED" in first.get_content()
    assert "report" in second["Subject"] and first["Message-ID"] != second["Message-ID"]
