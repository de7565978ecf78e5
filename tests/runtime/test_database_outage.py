"""A database that goes away is an outage, not a bug: 503 DATABASE_UNAVAILABLE with Retry-After, the
client's keep-alive connection stays open, and the next request after the database is back succeeds."""

import http.client
import json
import socket
from urllib.parse import urlsplit

import pytest
from sqlalchemy import create_engine, text

from orchestrator.runtime.db import make_admin_engine
from tests.conftest import POSTGRES_ONLY


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _unreachable_engine(store, tmp_path):
    if store.writer.dialect.name == "postgresql":  # nothing listens on a port just freed
        return create_engine(f"postgresql+psycopg2://postgres@127.0.0.1:{_free_port()}/gone", pool_pre_ping=True)
    return create_engine(f"sqlite:///{tmp_path / 'no-such-dir' / 'runtime.db'}")  # sqlite cannot open it


class Connection:
    """One keep-alive HTTP connection, so a test can tell whether the server closed it."""

    def __init__(self, server: str, token: str):
        self.http = http.client.HTTPConnection(urlsplit(server).netloc, timeout=30)
        self.headers = {"Authorization": f"Bearer {token}"}

    def get(self, path: str) -> tuple[int, dict, dict]:
        self.http.request("GET", path, headers=self.headers)
        response = self.http.getresponse()
        return response.status, dict(response.getheaders()), json.loads(response.read())


@pytest.fixture
def connection(admin, server):
    conn = Connection(server, admin.token())
    yield conn
    conn.http.close()


def test_an_unreachable_database_is_503_with_retry_after_and_recovers(store, connection, tmp_path):
    assert connection.get("/jobs")[0] == 200
    socket_before = connection.http.sock
    good = (store.writer, store.reader)
    store.writer = store.reader = _unreachable_engine(store, tmp_path)
    try:
        for path in ("/jobs", "/operations", "/sites/x", "/healthz"):
            status, headers, body = connection.get(path)
            assert status == 503, (path, status, body)
            assert body["code"] == "DATABASE_UNAVAILABLE" and body["message"] and isinstance(body["details"], dict)
            assert int(headers["retry-after"]) > 0
            assert "bug" not in body["message"]
    finally:
        store.writer.dispose()
        store.writer, store.reader = good
    assert connection.get("/jobs")[0] == 200
    assert connection.http.sock is socket_before  # the same keep-alive connection served every request


@POSTGRES_ONLY
def test_terminated_database_connections_are_replaced_on_the_next_request(store, connection, database_url):
    assert connection.get("/jobs")[0] == 200
    admin = make_admin_engine(database_url)
    try:
        for _ in range(3):
            with admin.connect() as conn:
                killed = conn.execute(
                    text(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                ).scalar()
            assert killed >= 1
            status, headers, body = connection.get("/jobs")
            assert status == 200, (status, body)
    finally:
        admin.dispose()
