"""Browser tests: Playwright for Python driving Debian's Chromium (`make browser` installs it; nothing is
downloaded), against the real server of the jobs site's test world. Every page a test visits is
screenshotted under the run's artefacts directory, and a page that logs a console error or has a
request fail fails its test."""

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from tests.conftest import REPO_ROOT
from tests.jobsite.conftest import jobsite, jobsite_server, repo, world  # noqa: F401  (fixtures)

CHROMIUM = os.environ.get("ORCHESTRATOR_TEST_CHROMIUM", "/usr/bin/chromium")
ARTEFACTS = Path(os.environ.get("ORCHESTRATOR_TEST_ARTEFACTS", REPO_ROOT / ".artefacts")) / "screenshots"


# Per module, not per session: while Playwright's sync API is open it keeps an event loop running in this
# thread, and a later test's asyncio.run() would refuse to start.
@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"No Chromium at {CHROMIUM}: run `make browser` (apt-get install chromium) first.")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield browser
        browser.close()


class Visitor:
    """A person at a browser: their page, what went wrong on it, and a screenshot of each page they see."""

    def __init__(self, browser, base_url: str, name: str, test_name: str, **context_options):
        self.context = browser.new_context(base_url=base_url, **context_options)
        self.page = self.context.new_page()
        self.name, self.test_name, self.problems, self.shots = name, test_name, [], 0
        self.page.on("console", lambda m: m.type == "error" and self.problems.append(f"console: {m.text}"))
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.failed, self.downloads = [], set()
        self.page.on("requestfailed", lambda r: self.failed.append((r.url, f"failed: {r.method} {r.url} {r.failure}")))
        self.page.on("download", lambda d: self.downloads.add(d.url))  # Chromium reports a download as aborted

    def goto(self, path: str):
        response = self.page.goto(path)
        assert response is not None and response.status < 400, (path, response and response.status)
        self.shot()
        return response

    def shot(self, label: str | None = None) -> Path:
        self.shots += 1
        slug = re.sub(
            r"[^a-z0-9]+", "-", (label or self.page.url.split("//", 1)[-1].split("/", 1)[-1] or "home").lower()
        )
        target = ARTEFACTS / self.test_name / f"{self.name}-{self.shots:02d}-{slug.strip('-') or 'home'}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(target), full_page=True)
        return target

    def log_in(self, username: str, password: str) -> None:
        self.goto("/login")
        self.page.get_by_label("Username").fill(username)
        self.page.get_by_label("Password").fill(password)
        self.page.get_by_role("button", name="Log in").click()
        self.page.wait_for_load_state()
        assert "/login" not in self.page.url, self.page.content()[:500]


@pytest.fixture
def visitors(browser, world, request):  # noqa: F811  (the imported fixture)
    made = []

    def visit(name: str = "anonymous", base_url: str | None = None, **options) -> Visitor:
        visitor = Visitor(browser, base_url or world.url, name, request.node.name, **options)
        made.append(visitor)
        return visitor

    yield visit
    problems = [f"{v.name}: {p}" for v in made for p in v.problems]
    problems += [f"{v.name}: {p}" for v in made for url, p in v.failed if url not in v.downloads]
    for visitor in made:
        visitor.context.close()
    assert problems == [], problems
