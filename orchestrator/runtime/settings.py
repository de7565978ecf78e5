"""Runtime settings, read from ORCHESTRATOR_* environment variables with embedded defaults.

With nothing set, everything lives under `.orchestrator/` in the working directory: the SQLite
database and the blob directory.
"""
import os
from dataclasses import dataclass, field
from pathlib import Path


def _env(name: str, default: str) -> str:
    return os.environ.get(name) or default


def _home() -> Path:
    return Path(_env("ORCHESTRATOR_HOME", ".orchestrator")).resolve()


@dataclass(frozen=True)
class RuntimeSettings:
    database_url: str = field(default_factory=lambda: _env("ORCHESTRATOR_DATABASE_URL", f"sqlite:///{_home() / 'runtime.db'}"))
    blob_dir: Path = field(default_factory=lambda: Path(_env("ORCHESTRATOR_BLOB_DIR", str(_home() / "blobs"))))
    max_object_bytes: int = field(default_factory=lambda: int(_env("ORCHESTRATOR_MAX_OBJECT_BYTES", str(1 << 30))))
    max_request_bytes: int = field(default_factory=lambda: int(_env("ORCHESTRATOR_MAX_REQUEST_BYTES", str(4 << 20))))
    token_ttl_seconds: int = field(default_factory=lambda: int(_env("ORCHESTRATOR_TOKEN_TTL_SECONDS", "3600")))
    lease_seconds: int = field(default_factory=lambda: int(_env("ORCHESTRATOR_LEASE_SECONDS", "60")))
    lease_sweep_seconds: float = field(default_factory=lambda: float(_env("ORCHESTRATOR_LEASE_SWEEP_SECONDS", "2")))
    # Failed logins (POST /token) allowed per window before 429: per user or client id from one address
    # (a person mistyping), per address over any ids (password spraying), per id over all addresses
    # (distributed guessing; high enough that strangers cannot easily lock a real user out).
    login_failure_window_seconds: int = field(default_factory=lambda: int(_env("ORCHESTRATOR_LOGIN_FAILURE_WINDOW_SECONDS", "900")))
    login_max_failures: int = field(default_factory=lambda: int(_env("ORCHESTRATOR_LOGIN_MAX_FAILURES", "10")))
    login_max_failures_per_address: int = field(default_factory=lambda: int(_env("ORCHESTRATOR_LOGIN_MAX_FAILURES_PER_ADDRESS", "50")))
    login_max_failures_per_id: int = field(default_factory=lambda: int(_env("ORCHESTRATOR_LOGIN_MAX_FAILURES_PER_ID", "100")))
