"""What a site's sensors evaluate with: one Dagster instance per code-server process and the
repository's own `runtime` and `site` resources, through `site_sensor`, which wraps `dg.sensor`.

Why not Dagster's resource parameters: for every evaluation of a sensor that takes resources, Dagster
opens a new DagsterInstance to build them. On SQLite storage that re-reads its storages' migration
scripts, ~75 ms of CPU; on PostgreSQL, ~20 ms and a new connection. With a sensor per workflow
ticking every few seconds, that was most of an idle site's CPU (0.26 of a core against bare
Dagster's 0.03 in bench/e2e.py). The resources are still the repository's, configured in one place.
"""

import threading
from collections.abc import Callable
from dataclasses import dataclass

import dagster as dg

from orchestrator.resources import RuntimeResource, SiteResource

RESOURCE_KEYS = ("runtime", "site")

_lock = threading.Lock()
_instances: dict[str, dg.DagsterInstance] = {}  # by the serialised InstanceRef the daemon sends


@dataclass(frozen=True)
class SensorScope:
    instance: dg.DagsterInstance
    runtime: RuntimeResource
    site: SiteResource


def sensor_instance(context: dg.SensorEvaluationContext) -> dg.DagsterInstance:
    """The instance the daemon names, opened once per process and kept: storages are safe to share
    between the code server's threads, as the daemon and webserver share theirs."""
    ref = context.instance_ref
    if ref is None:  # a context given its instance (dg.build_sensor_context in tests and scripts)
        return context.instance
    key = dg.serialize_value(ref)
    with _lock:
        if key not in _instances:
            _instances[key] = dg.DagsterInstance.from_ref(ref)
        return _instances[key]


def sensor_scope(context: dg.SensorEvaluationContext) -> SensorScope:
    instance = sensor_instance(context)
    repository = context.repository_def
    defined = repository.get_top_level_resources() if repository else {}
    missing = [key for key in RESOURCE_KEYS if key not in defined]
    if missing:
        raise dg.DagsterInvariantViolationError(
            f"A site's sensors need the resources {', '.join(RESOURCE_KEYS)} in its Definitions; "
            f"missing: {', '.join(missing)}."
        )
    # Plain configured values (EnvVars read now), nothing to tear down: usable after the block.
    with dg.build_resources({key: defined[key] for key in RESOURCE_KEYS}, instance=instance) as resources:
        return SensorScope(instance, resources.runtime, resources.site)


def site_sensor(**sensor_args) -> Callable[[Callable], dg.SensorDefinition]:
    """`dg.sensor(**sensor_args)` over `fn(context, scope)`: the sensor declares no Dagster resources
    (so Dagster opens no instance for it) and `fn` gets them, with the kept instance, in `scope`."""

    def wrap(fn: Callable[[dg.SensorEvaluationContext, SensorScope], object]) -> dg.SensorDefinition:
        @dg.sensor(**sensor_args)
        def evaluate(context: dg.SensorEvaluationContext):
            scope = sensor_scope(context)
            # `context.log` (the tick's log in the Dagster UI) is made with `context.instance`, which
            # Dagster would open anew: give the context the kept one. Dagster has no public way to, so
            # this sets its attribute; tests/sensors/test_evaluation.py fails if that stops working.
            if getattr(context, "_instance", None) is None:
                context._instance = scope.instance
            return fn(context, scope)

        return evaluate

    return wrap
