"""Where a site's workflow ops run, chosen by ORCHESTRATOR_EXECUTOR: in the run worker (the default),
a process per op, or Celery workers on a broker (dagster-celery). For Celery it also makes the app
the workers run, `celery -A orchestrator.executors worker`, from the same settings as the site."""

from typing import TYPE_CHECKING

import dagster as dg

from orchestrator.settings import Settings

if TYPE_CHECKING:
    from celery import Celery

BROKER_ENV, BACKEND_ENV = "ORCHESTRATOR_CELERY_BROKER", "ORCHESTRATOR_CELERY_BACKEND"
# The run worker polls its step results from a reply queue of its own (rpc://), with basic.get, so the
# queue never has a consumer and is not auto-deleted: it lasts until `result_expires` after its last
# use (Celery's default: a day). Every run would leave one behind for a day; ten minutes is plenty, as
# a live run polls every second.
CELERY_CONFIG = {"result_expires": 600}


def celery_config(settings: Settings) -> dict:
    """The celery executor's config. URLs are named by their variable, not copied: a configured value
    can show in the Dagster UI, and a broker URL may hold a password. Unset: dagster-celery's defaults."""
    sources = {"broker": (settings.celery_broker, BROKER_ENV), "backend": (settings.celery_backend, BACKEND_ENV)}
    return {
        **{key: {"env": name} for key, (value, name) in sources.items() if value},
        "config_source": CELERY_CONFIG | {"task_default_queue": settings.celery_queue},
    }


def _celery(settings: Settings) -> dg.ExecutorDefinition:
    from dagster_celery import celery_executor  # Celery is imported only by sites that use it

    return celery_executor.configured(celery_config(settings))


EXECUTORS = {
    # Workflow ops are light (HTTP calls, an engine that starts its own action processes): a process per
    # op would cost more than the work, so the run worker runs them itself unless the site says otherwise.
    "in_process": lambda settings: dg.in_process_executor,
    "multiprocess": lambda settings: dg.multiprocess_executor,
    "celery": _celery,
}


def executor_for(settings: Settings) -> dg.ExecutorDefinition:
    return EXECUTORS[settings.executor](settings)


def worker_app(settings: Settings) -> "Celery":
    """The Celery app of a worker: dagster-celery's step task on the site's broker and backend, made
    as dagster-celery's own CLI makes it. The worker picks its queue with -Q (default `dagster`)."""
    from dagster_celery.executor import CeleryExecutor
    from dagster_celery.make_app import make_app
    from dagster_celery.tasks import create_task

    executor = CeleryExecutor.for_cli(
        broker=settings.celery_broker or None,
        backend=settings.celery_backend or None,
        config_source=CELERY_CONFIG | {"task_default_queue": settings.celery_queue},
    )
    app = make_app(executor.app_args())
    create_task(app)
    return app


def __getattr__(name: str):
    # `celery -A orchestrator.executors` looks up `app`; made on first use, so that loading the site's
    # definitions (which imports this module) neither imports Celery nor reads the settings again.
    if name == "app":
        return worker_app(Settings())
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
