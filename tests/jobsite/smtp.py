"""A real SMTP server for the jobs site's tests: aiosmtpd on loopback keeping what it receives."""

import asyncio
import email
import socket
import threading
from email import policy

import pytest
from aiosmtpd.controller import Controller

REJECTED = "nobody@example.org"


class Mailbox:
    """An aiosmtpd handler that keeps what it receives; it refuses REJECTED with 550 and, when told, drops
    the connection after taking a message (as a server that crashes before its reply would)."""

    def __init__(self):
        self.messages: list[email.message.Message] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.rcpt_attempts: list[str] = []
        self.delay = 0.0
        self.drop_after_data = False
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        self.rcpt_attempts.append(address)
        if address == REJECTED:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(self.delay)
        with self.lock:
            self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        if self.drop_after_data:
            server.transport.close()
        return "250 Message accepted for delivery"

    def message_ids(self) -> list[str]:
        with self.lock:
            return [message["Message-ID"] for message in self.messages]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def port():
    return free_port()


@pytest.fixture
def mailbox():
    return Mailbox()


@pytest.fixture
def start_server(port, mailbox):
    """start_server() -> an SMTP server on `port` (stopped after the test); nothing listens until called."""
    controllers = []

    def start() -> Controller:
        controller = Controller(mailbox, hostname="127.0.0.1", port=port)
        controller.start()
        controllers.append(controller)
        return controller

    yield start
    for controller in controllers:
        controller.stop()


@pytest.fixture
def smtp_server(start_server):
    return start_server()
