"""`RuntimeClient`: how sites, ops and the CLI talk to the runtime over HTTP (requests).

It fetches a token with the credentials it was given and fetches a new one when the runtime says
the token expired or was revoked. It retries with exponential backoff on connection errors, 5xx
and 429 only; any other 4xx is the caller's mistake and raises `RuntimeClientError` at once.
"""

import hashlib
import io
import json
import logging
import os
import random
import secrets
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

from orchestrator.pipeline.archive import pack_directory
from orchestrator.runtime.models import (
    ChangesheetCheck,
    ChangesheetResult,
    IngestResult,
    Job,
    MetadataCollection,
    MetadataDocument,
    Object,
    ObjectType,
    Operation,
    Site,
    SiteStatus,
    Trigger,
    Workflow,
)

log = logging.getLogger(__name__)

NEWEST = 2**63 - 1  # before_seq for the newest page: above every seq
TOKEN_ERRORS = {"TOKEN_EXPIRED", "TOKEN_REVOKED", "INVALID_TOKEN", "MISSING_TOKEN"}


class RuntimeClientError(Exception):
    def __init__(self, status: int, code: str, message: str, details: dict | None = None):
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message, self.details = status, code, message, details or {}

    @property
    def permanent(self) -> bool:
        """The runtime refused the request for good (a 4xx it would repeat); not unreachable, busy or failing."""
        return 400 <= self.status < 500 and not _retryable(self.status)

    @property
    def conflict(self) -> bool:
        """The resource's state forbids it now (409): e.g. an operation already done, a job not claimable."""
        return self.status == 409

    @property
    def forbidden(self) -> bool:
        """Not for this caller (403): e.g. a site without the workflow's capabilities."""
        return self.status == 403


@dataclass
class Credentials:
    """Either a site client (client_id/client_secret) or a user (username/password)."""

    client_id: str | None = None
    client_secret: str | None = None
    username: str | None = None
    password: str | None = None

    def grant(self) -> dict[str, str]:
        if self.client_id and self.client_secret:
            return {
                "grant_type": "client_credentials",
                "client_id": self.client_id,
                "client_secret": self.client_secret,
            }
        if self.username and self.password:
            return {"grant_type": "password", "username": self.username, "password": self.password}
        raise RuntimeClientError(0, "NO_CREDENTIALS", "No credentials: set client id/secret or username/password.")


class RuntimeClient:
    def __init__(
        self,
        base_url: str,
        credentials: Credentials,
        *,
        timeout: float = 30.0,
        max_retries: int = 5,
        backoff_seconds: float = 0.2,
        max_backoff_seconds: float = 10.0,
    ):
        self.base_url = base_url.rstrip("/")
        self.credentials = credentials
        self.timeout, self.max_retries = timeout, max_retries
        self.backoff_seconds, self.max_backoff_seconds = backoff_seconds, max_backoff_seconds
        self.session = requests.Session()
        self._token: str | None = None
        self._token_expires = 0.0

    # ---- transport
    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict | None = None,
        data: Any = None,
        headers: dict | None = None,
        stream: bool = False,
        auth: bool = True,
        answers: tuple[int, ...] = (),
    ) -> requests.Response:
        """`answers`: error statuses that are an answer, not an error, when their body is not an error
        {code, ...} -- e.g. a down site's status is 503 by design; its 503 DATABASE_UNAVAILABLE is retried."""
        refreshed = False
        attempt = 0
        while True:
            all_headers = dict(headers or {})
            if auth:
                all_headers["Authorization"] = f"Bearer {self.token()}"
            try:
                response = self.session.request(
                    method,
                    self.base_url + path,
                    json=json,
                    params=params,
                    data=_rewind(data),
                    headers=all_headers,
                    timeout=self.timeout,
                    stream=stream,
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                if attempt >= self.max_retries:
                    raise RuntimeClientError(
                        0, "UNREACHABLE", f"Runtime at {self.base_url} unreachable: {exc}", {"url": self.base_url}
                    ) from exc
                self._sleep(attempt, None)
                attempt += 1
                continue
            except requests.RequestException as exc:  # a malformed URL and the like: retrying cannot help
                raise RuntimeClientError(
                    0, "BAD_REQUEST", f"Cannot send to {self.base_url!r} (check ORCHESTRATOR_URL): {exc}"
                ) from exc
            log.debug(
                "%s %s -> %s in %.0f ms", method, path, response.status_code, response.elapsed.total_seconds() * 1000
            )
            if response.status_code in answers and _code(response) is None:
                return response
            if _retryable(response.status_code) and attempt < self.max_retries:
                self._sleep(attempt, response.headers.get("Retry-After"))
                attempt += 1
                continue
            if response.status_code == 401 and auth and not refreshed and _code(response) in TOKEN_ERRORS:
                self._token, refreshed = None, True  # one fresh token per request; a second 401 is real
                continue
            if response.status_code >= 400:
                raise _error(response)
            return response

    def _sleep(self, attempt: int, retry_after: str | None) -> None:
        delay = min(self.max_backoff_seconds, self.backoff_seconds * 2**attempt) * random.uniform(0.5, 1.0)
        if retry_after and retry_after.isdigit():  # honoured, but never past our own cap: a sensor tick must end
            delay = max(delay, min(float(retry_after), self.max_backoff_seconds))
        time.sleep(delay)

    def token(self) -> str:
        # Refresh a little before expiry so a request never leaves with a token about to lapse.
        if self._token is None or time.monotonic() > self._token_expires - 30:
            response = self.request("POST", "/token", data=self.credentials.grant(), auth=False)
            try:
                body = response.json()
                self._token, self._token_expires = body["access_token"], time.monotonic() + body["expires_in"]
            except (ValueError, KeyError, TypeError):
                raise RuntimeClientError(
                    response.status_code,
                    "NOT_A_RUNTIME",
                    f"{self.base_url}/token did not answer with a token; is ORCHESTRATOR_URL the runtime?",
                ) from None
        return self._token

    def get(self, path: str, **params) -> Any:
        return self.request("GET", path, params={k: v for k, v in params.items() if v is not None}).json()

    def post(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, json=body).json()

    def put(self, path: str, body: Any) -> Any:
        return self.request("PUT", path, json=body).json()

    def patch(self, path: str, body: Any) -> Any:
        return self.request("PATCH", path, json=body).json()

    def _newest(self, path: str, count: int, **params) -> list[dict]:
        items, before = [], NEWEST
        while len(items) < count and before is not None:
            page = self.get(path, before_seq=before, limit=min(count - len(items), 1000), **params)
            items += page["items"]
            before = page["next_before_seq"]
        return items

    def iterate(self, path: str, page_size: int = 100, **params) -> Iterator[dict]:
        """Every item of a list endpoint, following the `after_seq` cursor page by page."""
        after = params.pop("after_seq", 0)
        while True:
            page = self.get(path, after_seq=after, limit=page_size, **params)
            yield from page["items"]
            if page["next_after_seq"] is None:
                return
            after = page["next_after_seq"]

    # ---- resources
    def create_object(
        self,
        content: bytes | Path,
        *,
        name: str,
        types: list[str],
        mime_type: str = "application/octet-stream",
        description: str = "",
    ) -> dict:
        """Register and upload an object; returns it (status ready). Accepts bytes or a file path."""
        sha, size = _digest(content)
        obj = self.post(
            "/objects",
            {
                "name": name,
                "types": types,
                "size": size,
                "mime_type": mime_type,
                "description": description,
                "checksums": [{"type": "sha256", "checksum": sha}],
            },
        )
        if obj["status"] == "ready":
            return obj
        if isinstance(content, bytes):
            return self._put_bytes(obj["id"], content)
        with open(content, "rb") as fh:
            return self._put_bytes(obj["id"], fh)

    def _put_bytes(self, object_id: str, body) -> dict:
        return self.request(
            "PUT",
            f"/objects/{quote_id(object_id)}/content",
            data=body,
            headers={"Content-Type": "application/octet-stream"},
        ).json()

    def submit_path(self, path: Path, types: list[str], name: str | None = None) -> dict:
        """Submit a file as is, or a directory packed as a tar.gz (paths relative to the directory)."""
        path = Path(path)
        if path.is_dir():
            with tempfile.TemporaryDirectory() as tmp:
                archive = Path(tmp) / f"{path.name}.tar.gz"
                pack_directory(path, archive)
                return self.create_object(archive, name=name or archive.name, types=types, mime_type="application/gzip")
        return self.create_object(path, name=name or path.name, types=types)

    def download(self, object_id: str, target: Path, expected_sha256: str | None = None) -> Path:
        """Save the object's bytes to `target`; with `expected_sha256`, refuse (and delete) bytes that do not match."""
        digest = hashlib.sha256()
        with (
            self.request("GET", f"/objects/{quote_id(object_id)}/content", stream=True) as response,
            open(target, "wb") as fh,
        ):
            for chunk in response.iter_content(1 << 20):
                digest.update(chunk)
                fh.write(chunk)
        if expected_sha256 is not None and digest.hexdigest() != expected_sha256:
            Path(target).unlink()
            raise RuntimeClientError(
                0,
                "CHECKSUM_MISMATCH",
                f"Object {object_id!r} arrived with sha256 {digest.hexdigest()}, "
                f"not the {expected_sha256} it was registered with.",
            )
        return target

    def create_job(
        self,
        workflow_id: str,
        inputs: list[str] = (),
        config: dict | None = None,
        *,
        site_id: str | None = None,
        **extra,
    ) -> dict:
        """Create the job (or get the identical existing one); with `site_id`, only that site may claim it."""
        body = {"workflow_id": workflow_id, "inputs": list(inputs), "config": config or {}, **extra}
        if site_id is not None:
            body["site_id"] = site_id
        return self.post("/jobs", body)

    def claim_job(self, job_id: str, lease_seconds: int | None = None) -> dict:
        return self.post(f"/jobs/{quote_id(job_id)}:claim", {"lease_seconds": lease_seconds} if lease_seconds else None)

    def claim_next(
        self, workflow_id: str, max_jobs: int = 1, lease_seconds: int | None = None, claim_token: str | None = None
    ) -> list[dict]:
        """Claim up to `max_jobs` open jobs of a workflow; their operations. The request carries an
        idempotency key (`claim_token`, new if not given), so a retry after a lost reply -- by this call,
        or by a later one passing the same token -- returns the same operations, not more."""
        body = {
            "workflow_id": workflow_id,
            "max_jobs": max_jobs,
            "lease_seconds": lease_seconds,
            "claim_token": claim_token or new_claim_token(),
        }
        return self.post("/jobs:claimNext", body)["operations"]

    def retry_job(self, job_id: str) -> Job:
        """Open a failed or cancelled job again (a person's credentials); the job, now open."""
        return Job.model_validate(self.post(f"/jobs/{quote_id(job_id)}:retry"))

    def update_operation(self, operation_id: str, **patch) -> dict:
        return self.patch(f"/operations/{quote_id(operation_id)}", patch)

    def heartbeat(
        self, operation_ids: list[str], lease_seconds: int | None = None, site_status: dict | None = None
    ) -> dict:
        """Renew these operations' leases (none is fine: the site is marked seen all the same) and report the
        site's load, `{"running": n, "queued": n}`; each operation's state, with its job's cancelled parts."""
        body = {"operation_ids": operation_ids, "lease_seconds": lease_seconds}
        if site_status is not None:
            body["site_status"] = site_status
        return self.post("/operations:heartbeat", body)

    # ---- typed reads and verbs (the CLI's; each path is built here and nowhere else)
    def newest_jobs(self, count: int, *, status: str | None = None, workflow_id: str | None = None) -> list[Job]:
        """The `count` newest jobs, newest first (pages below a `before_seq` cursor: no history is read)."""
        return [
            Job.model_validate(item) for item in self._newest("/jobs", count, status=status, workflow_id=workflow_id)
        ]

    def get_job(self, job_id: str) -> Job:
        return Job.model_validate(self.get(f"/jobs/{quote_id(job_id)}"))

    def find_job(self, job_id: str) -> Job | None:
        """The job, or None while it does not exist yet (e.g. a sensor has not made it)."""
        try:
            return self.get_job(job_id)
        except RuntimeClientError as exc:
            if exc.code == "JOB_NOT_FOUND":
                return None
            raise

    def cancel_job(self, job_id: str, parts: list[str] | None = None) -> Job:
        """Cancel the job; with `parts`, only those parts (added to its cancelled_parts; the job goes on)."""
        body = {"parts": list(parts)} if parts is not None else None
        return Job.model_validate(self.post(f"/jobs/{quote_id(job_id)}:cancel", body))

    def release_job(self, job_id: str, operation_id: str | None = None) -> Job:
        """Return a claimed job to the queue; with `operation_id`, only if that operation still holds it."""
        body = {"operation_id": operation_id} if operation_id else None
        return Job.model_validate(self.post(f"/jobs/{quote_id(job_id)}:release", body))

    def site_status(self, site_id: str) -> SiteStatus:
        """The site's status from its heartbeats (no token needed); a down site is an answer (`up` false),
        not an error, though the runtime sends it as 503 for monitors."""
        response = self.request("GET", f"/sites/{quote_id(site_id)}/status", auth=False, answers=(503,))
        return SiteStatus.model_validate(response.json())

    def pause_site(self, site_id: str) -> Site:
        return Site.model_validate(self.post(f"/sites/{quote_id(site_id)}:pause"))

    def resume_site(self, site_id: str) -> Site:
        return Site.model_validate(self.post(f"/sites/{quote_id(site_id)}:resume"))

    def start_maintenance(self, site_id: str) -> Site:
        return Site.model_validate(self.post(f"/sites/{quote_id(site_id)}:startMaintenance"))

    def end_maintenance(self, site_id: str) -> Site:
        return Site.model_validate(self.post(f"/sites/{quote_id(site_id)}:endMaintenance"))

    # ---- the metadata store
    def ingest_metadata(self, object_id: str, replace: bool = False, operation_id: str | None = None) -> IngestResult:
        """Ingest the document set in object `object_id`, every document or none."""
        body = {"object_id": object_id, "replace": replace, "operation_id": operation_id}
        return IngestResult.model_validate(self.post("/metadata:ingest", body))

    def validate_changesheet(self, tsv: bytes, schema: str = "study-metadata") -> ChangesheetCheck:
        """Every problem of a changesheet, or what it would change now; changes nothing."""
        response = self._post_tsv("/metadata/changesheets:validate", tsv, schema=schema)
        return ChangesheetCheck.model_validate(response.json())

    def submit_changesheet(self, tsv: bytes, schema: str = "study-metadata", name: str = "changesheet.tsv") -> Object:
        """Store a valid changesheet as a `metadata-changesheet` object; its trigger applies it at a site."""
        return Object.model_validate(
            self._post_tsv("/metadata/changesheets:submit", tsv, schema=schema, name=name).json()
        )

    def apply_changesheet(
        self, object_id: str, schema: str = "study-metadata", operation_id: str | None = None
    ) -> ChangesheetResult:
        body = {"object_id": object_id, "schema": schema, "operation_id": operation_id}
        return ChangesheetResult.model_validate(self.post("/metadata/changesheets:apply", body))

    def _post_tsv(self, path: str, tsv: bytes, **params) -> requests.Response:
        headers = {"Content-Type": "text/tab-separated-values; charset=utf-8"}
        return self.request("POST", path, data=tsv, params=params, headers=headers)

    def metadata_collections(self) -> list[MetadataCollection]:
        return [MetadataCollection.model_validate(item) for item in self.get("/metadata")]

    def metadata_documents(self, collection: str, where: dict | None = None) -> Iterator[MetadataDocument]:
        """Every document of `collection` (equal to `where` on top-level fields), page by page."""
        filter_ = json.dumps(where) if where else None
        pages = self.iterate(f"/metadata/{quote_id(collection)}", 1000, filter=filter_)
        return (MetadataDocument.model_validate(item) for item in pages)

    def metadata_document(self, collection: str, document_id: str) -> MetadataDocument:
        return MetadataDocument.model_validate(self.get(f"/metadata/{quote_id(collection)}/{quote_id(document_id)}"))

    def get_operation(self, operation_id: str) -> Operation:
        return Operation.model_validate(self.get(f"/operations/{quote_id(operation_id)}"))

    def find_operation(self, operation_id: str) -> Operation | None:
        """The operation, or None if the runtime does not know it (reset, or a run made by hand)."""
        try:
            return self.get_operation(operation_id)
        except RuntimeClientError as exc:
            if exc.code == "OPERATION_NOT_FOUND":
                return None
            raise

    def objects_after(self, after_seq: int, *, types: list[str], limit: int) -> list[Object]:
        """One page: the objects of any of `types` after `after_seq`, oldest first (a sensor's tick)."""
        page = self.get("/objects", types=types, after_seq=after_seq, limit=limit)
        return [Object.model_validate(item) for item in page["items"]]

    def put_object_type(self, object_type: ObjectType) -> None:
        self.put(f"/object_types/{quote_id(object_type.id)}", object_type.model_dump(mode="json"))

    def put_workflow(self, workflow: Workflow) -> None:
        self.put(f"/workflows/{quote_id(workflow.id)}", workflow.model_dump(mode="json"))

    def put_trigger(self, trigger: Trigger) -> None:
        self.put(f"/triggers/{quote_id(trigger.id)}", trigger.model_dump(mode="json"))

    def iterate_objects(self, *, types: list[str] | None = None, after_seq: int = 0) -> Iterator[Object]:
        """Every object (of any of `types`) after `after_seq`, oldest first, page by page."""
        pages = self.iterate("/objects", 1000, types=types or None, after_seq=after_seq)
        return (Object.model_validate(item) for item in pages)

    def newest_objects(self, count: int, *, types: list[str] | None = None) -> list[Object]:
        return [Object.model_validate(item) for item in self._newest("/objects", count, types=types or None)]

    def get_object(self, object_id: str) -> Object:
        return Object.model_validate(self.get(f"/objects/{quote_id(object_id)}"))

    def list_workflows(self) -> list[Workflow]:
        return [Workflow.model_validate(item) for item in self.iterate("/workflows")]

    def list_triggers(self) -> list[Trigger]:
        return [Trigger.model_validate(item) for item in self.iterate("/triggers")]

    def get_trigger(self, trigger_id: str) -> Trigger:
        return Trigger.model_validate(self.get(f"/triggers/{quote_id(trigger_id)}"))

    def ensure_job(self, workflow_id: str, inputs: list[str], config: dict) -> bool:
        """Create the job (workflow, inputs) unless it exists; True if this call made it. Its id is derived
        from workflow and inputs by the runtime, so any number of callers make one job."""
        return (
            self.request(
                "POST", "/jobs", json={"workflow_id": workflow_id, "inputs": list(inputs), "config": config}
            ).status_code
            == 201
        )


def new_claim_token() -> str:
    return secrets.token_urlsafe(16)


def quote_id(resource_id: str) -> str:
    """An id as one path segment: `a/b` or `a?b` must name that id, not another route."""
    return quote(resource_id, safe="")


def _retryable(status: int) -> bool:
    return status >= 500 or status == 429


def _digest(content: bytes | Path) -> tuple[str, int]:
    if isinstance(content, bytes):
        return hashlib.sha256(content).hexdigest(), len(content)
    digest = hashlib.sha256()
    with open(content, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest(), os.path.getsize(content)


def _rewind(data):
    if isinstance(data, io.IOBase) and data.seekable():
        data.seek(0)  # a retried upload must send the file from its start again
    return data


def _code(response: requests.Response) -> str | None:
    try:
        return response.json().get("code")
    except ValueError:
        return None


def _error(response: requests.Response) -> RuntimeClientError:
    try:
        body = response.json()
        return RuntimeClientError(
            response.status_code, body.get("code", "HTTP_ERROR"), body.get("message", ""), body.get("details")
        )
    except (ValueError, AttributeError):
        return RuntimeClientError(response.status_code, "HTTP_ERROR", response.text[:500])
