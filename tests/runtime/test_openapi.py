"""/openapi.json documents every error reply with the error schema {code, message, details}, and what
/token needs."""

import requests

ERROR_REF = {"$ref": "#/components/schemas/Error"}
PUBLIC = ("/token", "/healthz", "/sites/{site_id}/status")  # besides DRS's service-info
# A down site's status is 503 with the status itself as the body (or an error, if the database is down).
OWN_BODIES = {
    ("GET", "/sites/{site_id}/status", 503): {"anyOf": [{"$ref": "#/components/schemas/SiteStatus"}, ERROR_REF]}
}


def test_every_error_response_is_documented_with_the_error_schema(server):
    spec = requests.get(server + "/openapi.json", timeout=30).json()
    error = spec["components"]["schemas"]["Error"]
    assert set(error["required"]) == {"code", "message", "details"}
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    documented = {}
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            statuses = {int(status) for status in operation["responses"] if status[0] in "45"}
            documented[(method.upper(), path)] = statuses
            for status in statuses:
                expected_schema = OWN_BODIES.get((method.upper(), path, status), ERROR_REF)
                assert (
                    operation["responses"][str(status)]["content"]["application/json"]["schema"] == expected_schema
                ), (
                    method,
                    path,
                    status,
                )
            assert {422, 503} <= statuses, (method, path, statuses)
            if path not in PUBLIC and not path.endswith("service-info"):
                assert 401 in statuses, (method, path, statuses)
            if "{" in path:
                assert 404 in statuses, (method, path, statuses)
            if method.upper() in ("POST", "PUT", "PATCH"):
                assert {400, 413} <= statuses, (method, path, statuses)
    expected = {
        ("POST", "/token"): {400, 401, 413, 422, 429, 503},
        ("GET", "/jobs"): {401, 422, 503},
        ("GET", "/jobs/{job_id}"): {401, 404, 409, 422, 503},
        ("POST", "/jobs/{job_id}:claim"): {400, 401, 403, 404, 409, 413, 422, 503},
        ("POST", "/jobs"): {400, 401, 403, 409, 413, 422, 503},
        ("PUT", "/object_types/{item_id}"): {400, 401, 403, 404, 409, 413, 422, 503},
        ("PATCH", "/operations/{operation_id}"): {400, 401, 403, 404, 409, 413, 422, 503},
        ("GET", "/sites/{site_id}/credentials"): {401, 403, 404, 409, 422, 503},
        ("DELETE", "/sites/{site_id}/credentials/{client_id}"): {400, 401, 403, 404, 409, 413, 422, 503},
        ("GET", "/sites/{site_id}/status"): {404, 409, 422, 503},
        ("POST", "/sites/{site_id}:pause"): {400, 401, 403, 404, 409, 413, 422, 503},
        ("POST", "/jobs/{job_id}:cancel"): {400, 401, 403, 404, 409, 413, 422, 503},
        ("POST", "/operations:heartbeat"): {400, 401, 403, 413, 422, 503},
    }
    for key, statuses in expected.items():
        assert documented[key] == statuses, (key, documented[key])


def test_token_request_requires_grant_type(server):
    spec = requests.get(server + "/openapi.json", timeout=30).json()
    body = spec["paths"]["/token"]["post"]["requestBody"]
    assert body["required"] is True
    for media_type in ("application/x-www-form-urlencoded", "application/json"):
        schema = body["content"][media_type]["schema"]
        assert schema["required"] == ["grant_type"]
        assert schema["properties"]["grant_type"]["enum"] == ["client_credentials", "password"]
