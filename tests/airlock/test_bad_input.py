"""Bad input to the airlock: every reply to anything a client can send is a 2xx or a 4xx with the JSON
error body, never a 5xx, for every route in its OpenAPI document, logged in or not."""

import re

import requests

from tests.runtime.test_bad_input import FUZZ_BODIES
from tests.utils.api import is_error_body


def test_fuzz_every_airlock_route_never_5xx(airlock):
    rid = airlock.call(
        "POST",
        "/api/release-requests",
        json={"workspace": "alpha-main", "files": [{"path": "output/table.csv", "reason": "r"}]},
    ).json()["id"]
    real = {"name": "alpha-main", "path": "output/table.csv", "action": "prepare", "request_id": rid}
    spec = requests.get(airlock.url + "/openapi.json", timeout=30).json()
    problems, sent = [], 0
    with requests.Session() as session:
        for template, operations in spec["paths"].items():
            real_path = re.sub(r"\{(\w+)(?::path)?\}", lambda m: real[m.group(1)], template)
            odd_path = re.sub(r"\{(\w+)(?::path)?\}", "%00..%2F%ff", template)
            for method in operations:
                for as_ in ("developer", "checker", "anonymous"):
                    headers = {} if as_ == "anonymous" else {"Authorization": f"Bearer {airlock.session(as_)}"}
                    attempts = [(real_path, body, h) for body, h in FUZZ_BODIES] + [(odd_path, b"", {})]
                    for path, body, extra in attempts:
                        response = session.request(
                            method.upper(), airlock.url + path, data=body, headers={**extra, **headers}, timeout=60
                        )
                        sent += 1
                        where = f"{as_} {method.upper()} {path} {body[:12]!r}"
                        if response.status_code >= 500:
                            problems.append(f"{where}: {response.status_code} {response.text[:120]}")
                        elif response.status_code >= 400 and not is_error_body(response):
                            problems.append(f"{where}: {response.status_code} without an error body")
    assert sent > 100
    assert not problems, "\n".join(problems)
