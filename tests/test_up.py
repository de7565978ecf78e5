"""`orchestrator up` as `make run` starts it: a real process with the runtime API and `dagster dev` on free
ports and a temporary ORCHESTRATOR_HOME. One stack serves every check (a start costs ~20 s of CPU): the
banner comes once, after both URLs answer; the UI shows no first-visit dialog; idle, it stays quiet; a second `up` says it is running; a
submitted study is followed to its end with `submit --wait`; Ctrl-C stops it all without a traceback or
a failed sensor tick."""

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time

import requests

from tests.conftest import REPO_ROOT

IDLE_SECONDS = 12  # more than two sensor ticks (5 s): idle ticks must print nothing


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Output:
    """Collects a process's merged output in a thread, so the test can wait for a line without blocking."""

    def __init__(self, process: subprocess.Popen):
        self.lines: list[str] = []
        self.thread = threading.Thread(target=self._read, args=(process,), daemon=True)
        self.thread.start()

    def _read(self, process) -> None:
        for line in process.stdout:
            self.lines.append(line)

    def wait_for(self, text: str, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for index, line in enumerate(self.lines):
                if text in line:
                    return index
            time.sleep(0.1)
        raise AssertionError(f"no {text!r} within {timeout:.0f} s:\n{self.text()}")

    def text(self) -> str:
        return "".join(self.lines)


def failed_sensor_ticks(dagster_home) -> list:
    import dagster as dg
    from dagster._core.scheduler.instigation import TickStatus

    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        return [
            tick
            for state in instance.all_instigator_state()
            for tick in instance.get_ticks(state.instigator_origin_id, state.selector_id, statuses=[TickStatus.FAILURE])
        ]


def readme_commands(heading: str) -> list[str]:
    section = (REPO_ROOT / "README.md").read_text().split(heading, 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [line.split("  #", 1)[0].strip() for line in block.splitlines() if line.strip()]


def test_up_prints_the_banner_once_when_ready_stays_quiet_follows_a_study_and_stops_on_ctrl_c(tmp_path):
    home, port, dagster_port, airlock_port = tmp_path / "home", free_port(), free_port(), free_port()
    env = {**os.environ, "ORCHESTRATOR_HOME": str(home)}
    for name in (
        "ORCHESTRATOR_URL",
        "ORCHESTRATOR_DATABASE_URL",
        "ORCHESTRATOR_USERNAME",
        "ORCHESTRATOR_CLIENT_ID",
        "ORCHESTRATOR_AIRLOCK_URL",
    ):
        env.pop(name, None)
    command = [sys.executable, "-m", "orchestrator.cli", "up", "--port", str(port), "--dagster-port", str(dagster_port)]
    command += ["--airlock-port", str(airlock_port)]
    # started as a script's background job is (SIGINT ignored): Ctrl-C and the orderly stop must work all the same
    up = subprocess.Popen(
        command,
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    output = Output(up)
    try:
        banner_at = output.wait_for("orchestrator is up", 75)
        # the banner promises both URLs: they answer the moment it is out
        assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).ok
        assert requests.get(f"http://127.0.0.1:{dagster_port}/server_info", timeout=5).ok
        nux = requests.post(f"http://127.0.0.1:{dagster_port}/graphql", json={"query": "{ shouldShowNux }"}, timeout=10)
        assert nux.json() == {"data": {"shouldShowNux": False}}  # no community dialog on the first visit
        time.sleep(IDLE_SECONDS)
        after_banner = output.lines[banner_at:]
        assert len(after_banner) <= 9, "".join(after_banner)  # the banner itself, then silence while idle

        again = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60)
        assert again.returncode == 1
        assert f"already running at http://127.0.0.1:{port}" in again.stderr and f"kill -INT {up.pid}" in again.stderr

        submitted = subprocess.run(
            [
                sys.executable,
                "-m",
                "orchestrator.cli",
                "submit",
                "examples/study",
                "--type",
                "study",
                "--wait",
                "--timeout",
                "90",
            ],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert submitted.returncode == 0, submitted.stdout + submitted.stderr + output.text()
        job_id = submitted.stdout.splitlines()[1].split()[1]
        assert f"{job_id}  succeeded" in submitted.stdout and "chart: succeeded SUCCEEDED" in submitted.stdout

        # The README's job-request session, pasted: the demo project and workspace `make run` made.
        request_id = None
        for command_line in readme_commands("### Job requests"):
            words = shlex.split(command_line.replace("REQUEST_ID", str(request_id)))
            done = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "orchestrator.cli",
                    *words[1:],
                    *(["--timeout", "120"] if "--wait" in words else []),
                ],
                cwd=REPO_ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=180,
            )
            assert done.returncode == 0, command_line + "\n" + done.stdout + done.stderr + output.text()
            if words[1:3] == ["requests", "submit"]:
                request_id = done.stdout.split()[2].rstrip(":")
                assert "summarise: succeeded (SUCCEEDED)" in done.stdout, done.stdout
                assert "generate_dataset: succeeded (SUCCEEDED)" in done.stdout, done.stdout
            if words[1:3] == ["requests", "show"]:
                assert "succeeded" in done.stdout and "summarise" in done.stdout, done.stdout

        def orchestrator(*words: str) -> str:
            """The command as a user runs it beside the stack; its output, once it has succeeded."""
            done = subprocess.run(
                [sys.executable, "-m", "orchestrator.cli", *words],
                cwd=REPO_ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=180,
            )
            assert done.returncode == 0, " ".join(words) + "\n" + done.stdout + done.stderr + output.text()
            return done.stdout

        # The README's metadata lines: the example study's metadata ingested, then changed by the example changesheet.
        orchestrator("submit", "examples/metadata/study.json", "--type", "metadata-in", "--wait", "--timeout", "90")
        orchestrator("metadata", "submit-changesheet", "examples/metadata/changesheet.tsv", "--wait", "--timeout", "90")

        # The site's operator commands on this stack, with nothing set: its site, jobs dir and Dagster instance.
        def site(*args: str) -> str:
            return orchestrator("site", *args)

        status = site("status")
        assert "site:" in status and "local" in status and "up:                    yes" in status, status
        assert "summarise" in site("jobs") and "SUCCEEDED" in site("jobs")
        assert "Dagster storage" in site("disk")
        site("pause")
        assert "paused:                yes" in site("status")
        site("resume")

        # In a browser, as the README's first screen says: log in as the demo developer, run two actions of the
        # demo workspace from its page, watch them succeed live.
        _run_two_actions_in_a_browser(f"http://127.0.0.1:{port}", home)

        # The README's airlock session: a single-use token, a login, the Level 4 files of that request's runs.
        assert requests.get(f"http://127.0.0.1:{airlock_port}/healthz", timeout=5).ok
        token = None
        for command_line in readme_commands("### Level 4 outputs: the airlock"):
            words = shlex.split(command_line)[1:]
            if words[:2] == ["airlock", "login"]:
                words += ["--token", token]
            done = subprocess.run(
                [sys.executable, "-m", "orchestrator.cli", *words],
                cwd=REPO_ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert done.returncode == 0, command_line + "\n" + done.stdout + done.stderr + output.text()
            if words[:2] == ["tokens", "create"]:
                token = done.stdout.splitlines()[0].split(": ", 1)[1]
            if words[:2] == ["airlock", "files"]:
                assert "output/summary_by_age.csv" in done.stdout, done.stdout
            if words[:2] == ["releases", "request"]:
                assert "submitted" in done.stdout and "the table by age" in done.stdout, done.stdout

        os.killpg(up.pid, signal.SIGINT)  # what Ctrl-C in its terminal does
        stopping = time.monotonic()
        assert up.wait(60) in (0, 130)
        assert time.monotonic() - stopping < 25  # every process stopped on its own, none waited out and killed
    finally:
        if up.poll() is None:  # a failed check: SIGTERM lets it stop its own process groups first
            os.kill(up.pid, signal.SIGTERM)
            try:
                up.wait(40)
            except subprocess.TimeoutExpired:
                os.killpg(up.pid, signal.SIGKILL)
                up.wait()
    output.thread.join(10)
    text = output.text()
    assert text.count("orchestrator is up") == 1
    assert "Traceback" not in text and "will not be used" not in text, text
    assert not (home / "up.json").exists()
    assert failed_sensor_ticks(home / "dagster") == []


def _run_two_actions_in_a_browser(url: str, home) -> None:
    import json

    from playwright.sync_api import expect, sync_playwright

    from tests.web.conftest import ARTEFACTS, CHROMIUM

    password = json.loads((home / "credentials.json").read_text())["password"]
    shots = ARTEFACTS / "test_up"
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        page = browser.new_page(base_url=url, viewport={"width": 1100, "height": 900})
        errors = []
        page.on("console", lambda m: m.type == "error" and errors.append(m.text))
        page.goto("/")
        page.get_by_role("link", name="Log in").first.click()
        page.get_by_label("Username").fill("local-admin")
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        page.get_by_role("link", name="Demo project").click()
        page.get_by_role("link", name="demo-study").click()
        page.get_by_label("chart").check()
        page.get_by_label("export_sample").check()
        page.screenshot(path=str(shots / "workspace-page.png"))
        page.get_by_role("button", name="Submit job request").click()
        expect(page.get_by_role("heading", name="Job request jr-")).to_be_visible()
        page.evaluate("window.notReloaded = true")
        expect(page.locator("#status")).to_have_text("succeeded", timeout=150_000)
        assert page.evaluate("window.notReloaded") is True
        expect(page.locator('tr[data-action="chart"] [data-field="state"]')).to_have_text("succeeded")
        page.screenshot(path=str(shots / "job-request-page.png"))
        browser.close()
    assert errors == []
