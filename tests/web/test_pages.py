"""The jobs site's pages in a real browser: an anonymous visitor browses projects and a workspace; a
developer logs in, runs two actions from the workspace page and watches their jobs go from pending to
succeeded without a reload, then cancels another request; a collaborator is offered nothing to run;
settings make a single-use token; a forged form is refused."""

import threading
import time

import requests
from playwright.sync_api import expect

from orchestrator.runtime.models import OperationPatch, Principal

SITE_A = Principal(kind="site", id="site-a")


def test_an_anonymous_visitor_browses_projects_and_a_workspace(world, visitors):
    visitor = visitors()
    visitor.goto("/")
    page = visitor.page
    expect(page.get_by_role("heading", name="Projects")).to_be_visible()
    page.get_by_role("link", name="Alpha").click()
    expect(page.get_by_role("heading", name="Alpha")).to_be_visible()
    visitor.shot("project")
    page.get_by_role("link", name="alpha-main").click()
    expect(page.get_by_role("heading", name="alpha-main")).to_be_visible()
    visitor.shot("workspace")
    rows = page.locator("table.actions tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(1)).to_contain_text("prepare")  # report's needs
    expect(page.get_by_role("button", name="Submit job request")).to_have_count(0)  # nothing to run anonymously
    expect(page.get_by_role("link", name="Log in").first).to_be_visible()
    missing = page.goto("/projects/nope")
    assert missing.status == 404 and "Traceback" not in page.content()
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    visitor.problems.clear()  # the 404 above was asked for


def site_runs(world, request_id: str, steps: list[dict], every: float = 0.8) -> threading.Thread:
    """Play the site for a request: claim its job, then report each step's per-action states in turn."""

    def play():
        deadline = time.monotonic() + 30
        while True:
            claimed = world.store.claim_next("pipeline-1.0.0", SITE_A)
            if claimed:
                break
            assert time.monotonic() < deadline
            time.sleep(0.1)
        (op,) = claimed
        for index, actions in enumerate(steps):
            time.sleep(every)
            last = index == len(steps) - 1
            patch = OperationPatch(metadata={"actions": actions}, **({"done": True, "result": {}} if last else {}))
            world.store.update_operation(op.id, SITE_A, patch)

    thread = threading.Thread(target=play, daemon=True)
    thread.start()
    return thread


def _state(state, **more):
    return {"state": state, "decision": "run", **more}


def test_a_developer_runs_two_actions_and_watches_them_succeed_live(world, visitors):
    developer = visitors("developer")
    developer.log_in("developer", world.passwords["developer"])
    developer.goto("/workspaces/alpha-main")
    page = developer.page
    page.get_by_label("prepare").check()
    page.get_by_label("report").check()
    developer.shot("workspace-chosen")
    page.get_by_role("button", name="Submit job request").click()
    expect(page.get_by_role("heading", name="Job request")).to_be_visible()
    developer.shot("job-request-new")
    request_id = page.url.rsplit("/", 1)[1]
    page.evaluate("window.notReloaded = true")
    done = {"status_code": "SUCCEEDED", "status_message": "Completed successfully"}
    run = site_runs(
        world,
        request_id,
        [
            {"prepare": _state("pending", order=0), "report": _state("pending", order=1)},
            {"prepare": _state("running", order=0, started_at="2026-12-04T10:00:00Z")},
            {"prepare": _state("succeeded", order=0, **done), "report": _state("running", order=1)},
            {"report": _state("succeeded", order=1, **done)},
        ],
    )
    rows = page.locator("#jobs tbody tr")
    expect(rows).to_have_count(2, timeout=20_000)
    expect(page.locator('tr[data-action="prepare"] [data-field="state"]')).to_have_text("running", timeout=20_000)
    developer.shot("job-request-running")
    expect(page.locator("#status")).to_have_text("succeeded", timeout=20_000)
    expect(page.locator('tr[data-action="report"] [data-field="status_code"]')).to_have_text("SUCCEEDED")
    assert page.evaluate("window.notReloaded") is True  # it changed in place, no reload
    expect(page.get_by_role("button", name="Cancel the whole request")).to_have_count(0)  # nothing left to cancel
    developer.shot("job-request-succeeded")
    run.join(10)

    # another request, cancelled from its page
    developer.goto("/workspaces/alpha-main")
    page.get_by_label("Run all actions").check()
    page.get_by_role("button", name="Submit job request").click()
    expect(page.get_by_role("heading", name="Job request")).to_be_visible()
    page.get_by_role("button", name="Cancel the whole request").click()
    expect(page.locator("#status")).to_have_text("cancelled")
    developer.shot("job-request-cancelled")


def test_the_form_says_what_is_wrong_and_keeps_the_choices(world, visitors):
    developer = visitors("developer")
    developer.log_in("developer", world.passwords["developer"])
    developer.goto("/workspaces/alpha-main")
    page = developer.page
    page.get_by_label("Force-run dependencies").check()
    page.get_by_role("button", name="Submit job request").click()
    expect(page.get_by_role("alert")).to_contain_text("Choose at least one action")
    expect(page.get_by_label("Force-run dependencies")).to_be_checked()
    developer.shot("workspace-error")
    developer.problems.clear()  # the 422 answer is the point


def test_a_collaborator_is_offered_nothing_to_run_and_settings_make_a_token(world, visitors):
    collaborator = visitors("collaborator")
    collaborator.log_in("collaborator", world.passwords["collaborator"])
    collaborator.goto("/workspaces/alpha-main")
    page = collaborator.page
    expect(page.get_by_role("button", name="Submit job request")).to_have_count(0)
    expect(page.get_by_text("Only the project's developers run jobs.")).to_be_visible()
    collaborator.goto("/settings")
    page.get_by_role("button", name="Make a single-use token").click()
    token = page.locator("#token").inner_text()
    assert len(token.split()) == 3
    collaborator.shot("settings-token")
    (session,) = [c for c in collaborator.context.cookies() if c["name"] == "jobsite_session"]
    assert session["httpOnly"] and session["sameSite"] == "Lax"
    assert 7.9 * 3600 < session["expires"] - time.time() <= 8 * 3600  # a working day, not the API token's hour
    page.get_by_role("button", name="Log out collaborator").click()
    expect(page.get_by_role("link", name="Log in").first).to_be_visible()
    after = requests.get(world.url + "/api/me", headers={"Authorization": f"Bearer {session['value']}"}, timeout=30)
    assert after.status_code == 401 and after.json()["code"] == "TOKEN_REVOKED"  # logging out ended the token


def test_a_forged_form_and_a_wrong_password_are_refused_in_words(world, visitors):
    forged = requests.post(
        world.url + "/workspaces/alpha-main/run", data={"action": "prepare", "csrf": "guess"}, timeout=30
    )
    assert forged.status_code == 403 and "out of date or came from another site" in forged.text
    visitor = visitors("stranger")
    visitor.goto("/login")
    page = visitor.page
    page.get_by_label("Username").fill("developer")
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("do not match")
    expect(page.get_by_label("Username")).to_have_value("developer")
    visitor.shot("login-error")
    visitor.problems.clear()  # the 401 answer is the point


def test_a_developer_creates_and_edits_a_workspace_with_errors_beside_their_fields(world, visitors):
    developer = visitors("developer")
    developer.log_in("developer", world.passwords["developer"])
    developer.goto("/projects/alpha")
    page = developer.page
    page.get_by_role("link", name="New workspace").click()
    page.get_by_label("Name").fill("alpha-main")  # taken
    page.get_by_label("Git repository").fill("ext::sh -c evil")
    page.get_by_label("Sample (about 20%)").check()
    page.get_by_role("button", name="Create workspace").click()
    expect(page.locator("#repo-error")).to_contain_text("Use https://")
    expect(page.get_by_label("Name")).to_have_value("alpha-main")
    expect(page.get_by_label("Sample (about 20%)")).to_be_checked()
    developer.shot("workspace-form-errors")
    page.get_by_label("Git repository").fill(world.repo.url)
    page.get_by_role("button", name="Create workspace").click()
    expect(page.locator("#name-error")).to_contain_text("already exists")
    page.get_by_label("Name").fill("alpha-second")
    page.get_by_label("Purpose").fill("A second look")
    page.get_by_role("button", name="Create workspace").click()
    expect(page.get_by_role("heading", name="alpha-second")).to_be_visible()
    expect(page.get_by_text("A second look")).to_be_visible()
    page.get_by_role("link", name="Edit the workspace").click()
    page.get_by_label("Archived").check()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("This workspace is archived")).to_be_visible()
    developer.shot("workspace-archived")
    developer.problems.clear()  # the 422 answers are the point

    collaborator = visitors("collaborator")
    collaborator.log_in("collaborator", world.passwords["collaborator"])
    collaborator.goto("/projects/alpha")
    expect(collaborator.page.get_by_role("link", name="New workspace")).to_have_count(0)
    refused = collaborator.page.goto("/projects/alpha/workspaces/new")
    assert refused.status == 403
    collaborator.problems.clear()


def test_pages_fit_a_phone_and_work_by_keyboard_alone(world, visitors):
    phone = visitors("phone", viewport={"width": 390, "height": 844})
    for path in ("/", "/projects/alpha", "/workspaces/alpha-main", "/login", "/status"):
        phone.goto(path)
        width = phone.page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, (path, width)  # nothing wider than the screen: wide tables scroll inside
    keyboard = visitors("keyboard")
    keyboard.goto("/login")
    page = keyboard.page
    page.keyboard.press("Tab")  # the skip link first
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.get_by_label("Username").focus()
    page.keyboard.type("developer")
    page.keyboard.press("Tab")
    page.keyboard.type(world.passwords["developer"])
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Log out developer")).to_be_visible()
    keyboard.goto("/workspaces/alpha-main")
    page.get_by_label("prepare").focus()
    page.keyboard.press("Space")
    expect(page.get_by_label("prepare")).to_be_checked()
    page.get_by_role("button", name="Submit job request").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Job request jr-")).to_be_visible()


def test_an_admin_edits_a_projects_status_and_its_markdown_shows_safely(world, visitors):
    admin = visitors("admin")
    admin.log_in("admin", world.passwords["admin"])
    admin.goto("/projects/alpha")
    page = admin.page
    page.get_by_role("link", name="Edit the project").click()
    page.get_by_label("Name").fill("")
    page.get_by_label("Status", exact=True).select_option("ongoing-linked")
    page.get_by_label("Status description (Markdown)").fill("**Approved.** <script>alert(1)</script>")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#name-error")).to_be_visible()  # a name cannot be empty; the rest is kept
    expect(page.get_by_label("Status description (Markdown)")).to_have_value("**Approved.** <script>alert(1)</script>")
    page.get_by_label("Name").fill("Alpha study")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", name="Alpha study")).to_be_visible()
    expect(page.locator(".markdown strong")).to_have_text("Approved.")
    expect(page.locator(".markdown script")).to_have_count(0)
    admin.shot("project-edited")
    admin.problems.clear()  # the 422 answer is the point

    developer = visitors("developer")
    developer.log_in("developer", world.passwords["developer"])
    developer.goto("/projects/alpha")
    expect(developer.page.get_by_role("link", name="Edit the project")).to_have_count(0)  # the table: admins only


def test_long_lists_come_a_page_at_a_time(world, visitors, monkeypatch):
    from orchestrator.jobsite.models import JobRequestCreate, ProjectCreate
    from orchestrator.web import paging
    from tests.jobsite.conftest import ADMIN

    monkeypatch.setattr(paging, "PAGE_SIZE", 2)
    for slug in ("gamma", "delta", "epsilon"):  # with alpha and beta: five, so three pages
        world.jobsite.create_project(ProjectCreate(slug=slug, name=slug.title(), org="Org"), ADMIN)
    visitor = visitors()
    visitor.goto("/")
    page, seen = visitor.page, []
    rows = page.locator("tbody tr")
    for expected in (2, 2, 1):
        expect(rows).to_have_count(expected)
        seen += rows.locator("td:first-child").all_inner_texts()
        if expected == 2:
            page.get_by_role("link", name="Next page").click()
    visitor.shot("projects-last-page")
    expect(page.get_by_role("link", name="Next page")).to_have_count(0)
    assert sorted(seen) == ["Alpha", "Beta", "Delta", "Epsilon", "Gamma"]  # each once
    page.get_by_role("link", name="First page").click()
    expect(rows).to_have_count(2)
    expect(page.get_by_role("link", name="First page")).to_have_count(0)

    developer = world.actor("developer")
    made = [
        world.jobsite.submit_request(
            JobRequestCreate(workspace="alpha-main", requested_actions=["prepare"]), developer
        )[0].id
        for _ in range(3)
    ]
    visitor.goto("/workspaces/alpha-main")
    requests_table = page.locator("table").last
    expect(requests_table.locator("tbody tr")).to_have_count(2)
    newest = requests_table.locator("tbody tr td:first-child").all_inner_texts()
    assert newest == [made[2], made[1]]  # newest first
    page.get_by_role("link", name="Older requests").click()
    expect(requests_table.locator("tbody tr td:first-child")).to_have_text([made[0]])
    page.get_by_role("link", name="Newest requests").click()
    expect(requests_table.locator("tbody tr")).to_have_count(2)
