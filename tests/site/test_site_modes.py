"""`orchestrator site pause|resume|maintenance|status|prepare-for-reboot` against a real `dagster-daemon` site and a
live runtime: a paused site claims nothing (the claim sensor says why) until resumed; preparing for a
reboot in the middle of a run hands the job back to the queue and stops the run; after the restart
and `resume` the job runs again and succeeds once. Each command is run twice: the second is a no-op."""

import subprocess
import time

import dagster as dg
import pytest

from tests.site.stack import BIN, register_as_admin, wait_for
from tests.site.test_e2e import (
    ECHO,
    ON_SQLITE,
    Site,
    add_untriggered_type,
    assert_nothing_lost,
    only_operation,
    start_slow_echo,
    wait_run_ended,
    wait_status,
)


def site_command(site: Site, *args: str) -> subprocess.CompletedProcess:
    """As the site's operator runs it: on the site's machine, with its environment."""
    done = subprocess.run(
        [str(BIN / "orchestrator"), "site", *args],
        cwd=site.repo,
        env=site.env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done


@ON_SQLITE
@pytest.mark.timeout(900)
def test_pause_resume_and_prepare_for_reboot_lose_and_duplicate_nothing(store, server, admin, repo, tmp_path, sites):
    site = Site.create(store, server, repo, tmp_path, "site-1")
    register_as_admin(repo, site.env, admin)
    add_untriggered_type(admin)
    sites.append(site.start())

    # Paused: a new job stays open while the claim sensor ticks (every second) and says why.
    for _ in range(2):
        assert "paused" in site_command(site, "pause").stdout
    assert "paused:                yes" in site_command(site, "status").stdout
    payload = admin.create_object(b"while paused", name="p.txt", types=["payload"])
    job = admin.create_job(ECHO, [payload["id"]], config={"sleep_seconds": 0})
    wait_for(
        lambda: "is paused" in site.log.read_text(errors="replace"), 60, "the claim sensor to say the site is paused"
    )
    time.sleep(3)
    assert admin.get(f"/jobs/{job['id']}")["status"] == "open"
    for _ in range(2):
        assert "claims jobs again" in site_command(site, "resume").stdout
    wait_status(admin, job["id"], "succeeded", 180, site)
    only_operation(admin, job["id"], site)

    # Database maintenance: shown in the status and on the lease sensor's every tick.
    for _ in range(2):
        assert "database maintenance on" in site_command(site, "maintenance", "on").stdout
    assert "database maintenance:  yes" in site_command(site, "status").stdout
    wait_for(lambda: "DATABASE MAINTENANCE" in site.log.read_text(errors="replace"), 30, "the lease sensor to show it")
    assert "database maintenance off" in site_command(site, "maintenance", "off").stdout

    # Prepare for a reboot in the middle of a run: the job goes back to the queue, its run stops.
    slow, first_op = start_slow_echo(admin, site, 60)
    prepared = site_command(site, "prepare-for-reboot").stdout
    assert f"job {slow['id']} back in the queue" in prepared and "1 run(s) stopped" in prepared, prepared
    reopened = admin.get(f"/jobs/{slow['id']}")
    assert (reopened["status"], reopened["attempts"]) == ("open", 1), reopened
    assert admin.get(f"/operations/{first_op['id']}")["error"]["code"] == "RELEASED"
    stopped = wait_run_ended(site, first_op["metadata"]["dagster_run_id"], 60)
    assert stopped.status in (dg.DagsterRunStatus.CANCELED, dg.DagsterRunStatus.FAILURE), stopped.status
    again = site_command(site, "prepare-for-reboot").stdout
    assert "0 run(s) stopped" in again, again

    # The reboot: every process of the site goes, comes back paused, claims only once resumed.
    site.stop()
    site.start()
    time.sleep(5)
    assert admin.get(f"/jobs/{slow['id']}")["status"] == "open"
    site_command(site, "resume")
    assert_nothing_lost(admin, slow["id"], first_op, site)
