"""RuntimeClient retries connection errors, 5xx and 429 with backoff, never other 4xx, and
fetches a new token when the runtime says its token expired or was revoked."""

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from orchestrator.runtime.client import Credentials, RuntimeClient, RuntimeClientError


class ScriptedRuntime:
    """A loopback HTTP server answering each request with the next scripted (status, body)."""

    def __init__(self, script):
        self.script, self.requests = list(script), []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                owner.requests.append(
                    (self.command, self.path, self.headers.get("Authorization"), self.rfile.read(length))
                )
                if self.path == "/token":
                    status, body, headers = 200, {"access_token": f"tok{len(owner.requests)}", "expires_in": 3600}, {}
                else:
                    status, body, headers = owner.script.pop(0)
                payload = json.dumps(body).encode()
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PATCH = _answer

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def calls(self, path):
        return [r for r in self.requests if r[1].startswith(path)]


@pytest.fixture
def scripted():
    servers = []

    def make(*script):
        servers.append(ScriptedRuntime(script))
        return servers[-1]

    yield make
    for server in servers:
        server.httpd.shutdown()


def client(url, retries=3):
    return RuntimeClient(url, Credentials(client_id="c", client_secret="s"), max_retries=retries, backoff_seconds=0.01)


OK = (200, {"id": "job-1"}, {})


def test_retries_5xx_then_succeeds(scripted):
    runtime = scripted((503, {"code": "UNAVAILABLE", "message": ""}, {}), (500, {}, {}), OK)
    assert client(runtime.url).get("/jobs/job-1") == {"id": "job-1"}
    assert len(runtime.calls("/jobs")) == 3


def test_retries_429_honouring_retry_after(scripted):
    runtime = scripted((429, {"code": "TOO_MANY", "message": ""}, {"Retry-After": "0"}), OK)
    assert client(runtime.url).get("/jobs/job-1")["id"] == "job-1"
    assert len(runtime.calls("/jobs")) == 2


@pytest.mark.parametrize("status", [400, 403, 404, 409, 422])
def test_other_4xx_raise_at_once(scripted, status):
    runtime = scripted((status, {"code": "NOPE", "message": "no", "details": {"x": 1}}, {}))
    with pytest.raises(RuntimeClientError) as err:
        client(runtime.url).post("/jobs/job-1:claim")
    assert (err.value.status, err.value.code, err.value.details) == (status, "NOPE", {"x": 1})
    assert len(runtime.calls("/jobs")) == 1


def test_gives_up_after_max_retries(scripted):
    runtime = scripted(*[(502, {}, {})] * 3)
    with pytest.raises(RuntimeClientError) as err:
        client(runtime.url, retries=2).get("/jobs")
    assert err.value.status == 502 and len(runtime.calls("/jobs")) == 3


def test_connection_refused_is_retried_then_reported():
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(RuntimeClientError) as err:
        client(f"http://127.0.0.1:{port}", retries=2).get("/jobs")
    assert err.value.code == "UNREACHABLE"


def test_refreshes_token_once_on_expiry(scripted):
    runtime = scripted((401, {"code": "TOKEN_EXPIRED", "message": ""}, {}), OK)
    assert client(runtime.url).get("/jobs/job-1")["id"] == "job-1"
    tokens_used = [auth for _, path, auth, _ in runtime.requests if path.startswith("/jobs")]
    assert len(runtime.calls("/token")) == 2 and tokens_used[0] != tokens_used[1]


def test_second_401_is_not_retried_forever(scripted):
    runtime = scripted(*[(401, {"code": "TOKEN_REVOKED", "message": ""}, {})] * 2)
    with pytest.raises(RuntimeClientError) as err:
        client(runtime.url).get("/jobs")
    assert err.value.code == "TOKEN_REVOKED" and len(runtime.calls("/jobs")) == 2
