"""Every ORCHESTRATOR_* setting in one object, read from the environment and from a `.env` file in
the working directory (the environment wins). Entry points -- the CLI, the API server, the site's
Dagster definitions -- build it once and hand each part what it needs; nothing else reads them.

With nothing set, all local state lives under `.orchestrator/` in the working directory.
"""

import json
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from orchestrator.pipeline.databases import DatabaseMap


class Settings(BaseSettings):
    # An empty variable counts as unset, as a shell's `export X=` usually means "no value". Some values
    # are secrets (a client secret, database URLs): an error names the setting, never echoes its value.
    model_config = SettingsConfigDict(
        env_prefix="ORCHESTRATOR_", env_file=".env", env_ignore_empty=True, extra="ignore", hide_input_in_errors=True
    )

    home: Path = Path(".orchestrator")  # every default path below lies inside it

    # ---- the runtime (its API server and store)
    database_url: str = ""  # default: sqlite:///<home>/runtime.db
    blob_dir: Path | None = None  # default: <home>/blobs
    max_object_bytes: int = 1 << 30
    max_request_bytes: int = 4 << 20
    token_ttl_seconds: int = 3600
    # A browser's session (the jobs site's pages): a working day, not the API token's hour; logging out ends it.
    web_session_seconds: int = 8 * 3600
    lease_seconds: int = 60
    lease_sweep_seconds: float = 2
    # A site whose last heartbeat is older than this is down: GET /sites/{id}/status answers 503.
    site_down_after_seconds: int = 300
    # Failed logins (POST /token) allowed per window before 429: per user or client id from one address
    # (a person mistyping), per address over any ids (password spraying), per id over all addresses
    # (distributed guessing; high enough that strangers cannot easily lock a real user out).
    login_failure_window_seconds: int = 900
    login_max_failures: int = 10
    login_max_failures_per_address: int = 50
    login_max_failures_per_id: int = 100

    # ---- a client of the runtime: the CLI (a person) or a site
    url: str = ""
    username: str = ""
    password: str = ""
    client_id: str = ""
    client_secret: str = ""

    # ---- a site
    site_id: str = ""
    max_runs_per_workflow: int = 4
    claim_ahead: int = 0
    claim_on_open: bool = True  # the new-objects sensor claims the jobs it opens in the same tick
    site_lease_seconds: int = 60
    run_max_runtime_seconds: int = 0  # a job's Dagster run is stopped after this long (0: never); JOB_TIMEOUT
    sensor_interval_seconds: int = 2
    # A curation job for every this many new biosample_set documents; the sensor reads them as one page (<= 1000).
    curation_batch: Annotated[int, Field(ge=1, le=1000)] = 100
    triggers_dir: Path | None = None  # default: the repository's triggers/
    workspaces_dir: Path | None = None  # default: <home>/workspaces
    jobs_dir: Path | None = None  # default: <home>/jobs; the site's action runs (orchestrator/pipeline/jobdirs.py)
    pipeline_concurrency: int = 2
    # Database actions running at once over all the site's runs (job-runner's MAX_DB_WORKERS), kept as the
    # Dagster concurrency pool "database" (orchestrator/workflows/database_slots.py); 0: no limit.
    max_db_workers: Annotated[int, Field(ge=0, le=1000)] = 2  # Dagster's most slots a pool may have
    action_timeout_seconds: float = 0  # 0: no limit
    action_memory_bytes: int = 0  # 0: no limit
    image_map: str = ""  # JSON {image: argv prefix}; see orchestrator/pipeline/images.py
    # JSON {name: url}: the databases a job request may name; only database actions get one, as
    # DATABASE_URL (orchestrator/pipeline/databases.py). Secrets: Dagster reads them as an EnvVar.
    databases: dict[str, str] = {}
    # Where the workflow jobs' ops run (orchestrator/executors.py): in the run worker, a process per op, or
    # on Celery workers. Celery's broker and backend: "" is dagster-celery's default (RabbitMQ as guest on
    # localhost; rpc://). A URL may hold a password: Dagster reads it as an EnvVar, like the databases.
    executor: Literal["in_process", "multiprocess", "celery"] = "in_process"
    celery_broker: str = ""
    celery_backend: str = ""
    celery_queue: str = "dagster"  # the site's workers listen here; sites sharing a broker need one each

    @field_validator("databases")
    @classmethod
    def _databases_usable(cls, databases: dict[str, str]) -> dict[str, str]:
        DatabaseMap.from_json(json.dumps(databases))  # the rules a run applies, checked when the site starts
        return databases

    # ---- the jobs site (served with the runtime)
    public_url: str = ""  # where people reach the server, for links in emails (e.g. https://jobs.example.org)
    git_cache_dir: Path | None = None  # default: <home>/git; bare mirrors of workspaces' repositories

    # ---- the jobs site's email
    # smtp://user:pass@host:port (plain), smtps:// (implicit TLS), smtp+starttls:// (STARTTLS);
    # empty: nothing is sent, the outbox keeps its rows (see orchestrator/jobsite/mail.py).
    smtp_url: str = ""
    mail_from: str = "orchestrator@localhost"
    mail_poll_seconds: float = 2
    mail_max_attempts: int = 100  # temporary failures before a message is given up (backoff: 5 s doubling to 10 min)

    # ---- the airlock (at a site, beside its workspaces; it calls the runtime as the site)
    airlock_database_url: str = ""  # default: sqlite:///<home>/airlock.db
    airlock_dir: Path | None = None  # default: <home>/airlock; copies of the files asked to be released
    airlock_url: str = ""  # where the CLI reaches the airlock (e.g. http://127.0.0.1:8010)
    airlock_session_days: float = 14  # a session lapses after this long unused
    airlock_login_max_failures: int = 10  # failed logins of one username or address per window, then 429
    airlock_login_window_seconds: int = 900

    @model_validator(mode="after")
    def _paths_under_home(self) -> "Settings":
        self.home = self.home.resolve()
        self.database_url = self.database_url or f"sqlite:///{self.home / 'runtime.db'}"
        self.blob_dir = self.blob_dir or self.home / "blobs"
        self.workspaces_dir = self.workspaces_dir or self.home / "workspaces"
        self.jobs_dir = self.jobs_dir or self.home / "jobs"
        self.git_cache_dir = self.git_cache_dir or self.home / "git"
        self.airlock_database_url = self.airlock_database_url or f"sqlite:///{self.home / 'airlock.db'}"
        self.airlock_dir = self.airlock_dir or self.home / "airlock"
        return self
