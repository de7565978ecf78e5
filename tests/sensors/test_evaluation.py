"""A site's sensors evaluate as the daemon has them (an InstanceRef per evaluation, the repository's
resources): Dagster would open a new instance each time; ours open the daemon's instance once per
process, take the repository's configured resources, and say clearly when one is missing."""

import dagster as dg
import pytest

from orchestrator.sensors import evaluation, make_claim_sensor, make_reconcile_sensor
from orchestrator.sensors.evaluation import SensorScope, site_sensor
from orchestrator.workflows import WORKFLOWS

from .support import METADATA_IN, open_jobs


@pytest.fixture
def opened(monkeypatch):
    """Every DagsterInstance.from_ref, counted; and no instance kept from an earlier test."""
    monkeypatch.setattr(evaluation, "_instances", {})
    calls = []
    from_ref = dg.DagsterInstance.from_ref
    monkeypatch.setattr(dg.DagsterInstance, "from_ref", lambda ref: calls.append(ref) or from_ref(ref))
    return calls


def evaluate_as_the_daemon_does(sensor, instance, site, cursor=None, **settings):
    """As the code server evaluates a sensor: an InstanceRef, not an instance, and the repository's resources."""
    definitions = dg.Definitions(resources=site.resources(**settings))
    with dg.build_sensor_context(instance_ref=instance.get_ref(), cursor=cursor, definitions=definitions) as context:
        return sensor(context)


def test_the_daemons_instance_is_opened_once_per_process_not_per_evaluation(instance, site, opened):
    sensors = [make_claim_sensor(METADATA_IN), make_claim_sensor(WORKFLOWS["pipeline-1.0.0"]), make_reconcile_sensor()]
    for _ in range(3):
        for sensor in sensors:
            result = evaluate_as_the_daemon_does(sensor, instance, site)
            assert not isinstance(result, Exception)
    assert len(opened) == 1  # 9 evaluations; Dagster's resource parameters would have opened 9

    # What Dagster does for a sensor with resource parameters, for comparison: a new instance each time.
    @dg.sensor(name="with_resources")
    def with_resources(context, runtime: dg.ResourceParam[object]):
        return dg.SkipReason("nothing")

    for _ in range(2):
        with dg.build_sensor_context(instance_ref=instance.get_ref(), resources=site.resources()) as context:
            with_resources(context)
    assert len(opened) == 3


def test_a_tick_that_claims_and_logs_opens_no_instance_either(instance, site, admin, opened):
    # `context.log` (the tick's log in the Dagster UI) is made with the context's instance: the kept one.
    sensor = make_claim_sensor(METADATA_IN)
    evaluate_as_the_daemon_does(sensor, instance, site)
    open_jobs(admin, 2)
    with dg.build_sensor_context(
        instance_ref=instance.get_ref(), definitions=dg.Definitions(resources=site.resources())
    ) as context:
        result = sensor(context)
        context.log.info("and one more line")
    assert len(result.run_requests) == 2 and len(opened) == 1


def test_the_kept_instance_sees_runs_made_after_it_was_opened(instance, site, opened):
    seen = []

    @site_sensor(name="count_runs")
    def count_runs(context, scope: SensorScope):
        seen.append(scope.instance.get_runs_count())
        return dg.SkipReason(f"site {scope.site.site_id}, {scope.site.max_runs_per_workflow} slots")

    first = evaluate_as_the_daemon_does(count_runs, instance, site, max_runs_per_workflow=3)
    instance.add_run(dg.DagsterRun(job_name="some_job", run_id="a" * 32, status=dg.DagsterRunStatus.SUCCESS))
    second = evaluate_as_the_daemon_does(count_runs, instance, site, max_runs_per_workflow=5)
    assert seen == [0, 1] and len(opened) == 1
    # The resources are the repository's as configured now, not kept from the first evaluation.
    assert (first.skip_message, second.skip_message) == (f"site {site.id}, 3 slots", f"site {site.id}, 5 slots")


def test_a_repository_without_the_sites_resources_is_a_clear_error(instance):
    sensor = make_reconcile_sensor()
    with dg.build_sensor_context(instance=instance, definitions=dg.Definitions()) as context:
        with pytest.raises(
            dg.DagsterInvariantViolationError, match="need the resources runtime, site.*missing: runtime, site"
        ):
            sensor(context)
