"""What every process does first (the CLI, the runtime's and the airlock's servers, the site's Dagster code):
put the working directory's `.env` file into the environment (variables already set win), so that the
settings, Dagster's EnvVars and the action processes all see one configuration; and log at LOGLEVEL."""

from __future__ import annotations

import logging
import os

from dotenv import load_dotenv

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class LogLevelError(ValueError):
    pass


def load_environment(path: str = ".env") -> None:
    load_dotenv(path, override=False)


def log_level(default: str = "INFO") -> str:
    """LOGLEVEL from the environment (or `.env`), upper-cased; a name it cannot be is an error that says so."""
    level = (os.environ.get("LOGLEVEL") or default).strip().upper()
    if level not in LEVELS:
        raise LogLevelError(f"LOGLEVEL={os.environ.get('LOGLEVEL')!r} is not a level; use one of {', '.join(LEVELS)}.")
    return level


def configure_logging(default: str = "INFO") -> str:
    """The `orchestrator` loggers at LOGLEVEL, to stderr with time, level and logger name; the level chosen.
    Other libraries' loggers stay at WARNING unless LOGLEVEL is DEBUG (then every request shows)."""
    level = log_level(default)
    logging.basicConfig(format=FORMAT, level=logging.DEBUG if level == "DEBUG" else logging.WARNING)
    logging.getLogger("orchestrator").setLevel(level)
    return level


def server_log_level(option: str | None) -> str:
    """A server's level: its --log-level if given, else LOGLEVEL (INFO by default), for uvicorn (lower case)
    and for our loggers, in this process and in the worker processes it starts (they read LOGLEVEL)."""
    if option:
        os.environ["LOGLEVEL"] = option.upper()
    return configure_logging("INFO").lower()


def for_dagster_code() -> None:
    """The site's Dagster code (code server, run workers): `.env`, and our loggers at LOGLEVEL. Dagster
    captures them (dagster.yaml: python_logs.managed_python_loggers) into a run's event log, under the
    run's tags (runtime job, operation); its own handlers print them, so none is added here."""
    load_environment()
    logging.getLogger("orchestrator").setLevel(log_level("INFO"))


def start(default_level: str = "INFO") -> str:
    load_environment()
    return configure_logging(default_level)
