"""The run-worker pid that load_input tags a run with: under the multiprocess executor each op runs in
a short-lived child, so the tag must name the run worker, or the reconcile sensor would take every
finished op for a crashed run and release a healthy job."""

import os

import dagster as dg

from orchestrator.workflows.common import run_worker_pid


@dg.op
def record_pids(context: dg.OpExecutionContext) -> None:
    context.instance.add_run_tags(
        context.run_id, {"op_pid": str(os.getpid()), "worker_pid": str(run_worker_pid(context))}
    )


@dg.job(executor_def=dg.multiprocess_executor)
def pids_job():
    record_pids()


def test_the_tagged_pid_is_the_run_workers_not_the_ops(instance):
    # execute_job makes this process the run worker and starts each op in a child process.
    with dg.execute_job(dg.reconstructable(pids_job), instance) as result:
        assert result.success
    tags = instance.get_run_by_id(result.run_id).tags
    assert tags["op_pid"] != str(os.getpid())
    assert tags["worker_pid"] == str(os.getpid())


@dg.job(executor_def=dg.in_process_executor)
def in_process_pids_job():
    record_pids()


def test_in_process_the_op_is_the_run_worker_and_the_event_log_is_not_read(instance, monkeypatch):
    # The default executor: the op runs in the run worker, so its own pid is the answer, without a
    # query of the run's events (each run asks once, and the event log is the busiest table).
    def no_event_log_reads(*args, **kwargs):
        raise AssertionError("the event log was read for the run worker's pid")

    monkeypatch.setattr(type(instance), "all_logs", no_event_log_reads)
    result = dg.execute_job(dg.reconstructable(in_process_pids_job), instance)
    assert result.success
    tags = instance.get_run_by_id(result.run_id).tags
    assert tags["op_pid"] == tags["worker_pid"] == str(os.getpid())
