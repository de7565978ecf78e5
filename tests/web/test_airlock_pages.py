"""The airlock's pages in a real browser: a developer logs in with a single-use token, looks at Level 4
files (a table, an image inline), asks for two files with a reason each; two checkers approve each
file with a comment and one releases; the audit log shows every step; a wrong token is refused."""

from playwright.sync_api import expect

from tests.airlock.conftest import airlock, airlock_settings  # noqa: F401  (fixtures)


def log_in(visitor, world, username):
    token = world.jobsite.create_login_token(world.actor(username)).token
    visitor.goto("/login")
    visitor.page.get_by_label("Username").fill(username)
    visitor.page.get_by_label("Single-use token").fill(token)
    visitor.page.get_by_role("button", name="Log in").click()
    expect(visitor.page.get_by_role("heading", name="Workspaces and release requests")).to_be_visible()


def test_view_ask_review_and_release_at_the_airlock(airlock, world, visitors):  # noqa: F811
    developer = visitors("developer", base_url=airlock.url)
    log_in(developer, world, "developer")
    page = developer.page
    page.get_by_role("link", name="alpha-main").click()
    expect(page.get_by_role("heading", name="Level 4 files of alpha-main")).to_be_visible()
    developer.shot("airlock-files")
    page.get_by_role("link", name="output/table.csv").click()
    expect(page.get_by_role("columnheader", name="count")).to_be_visible()
    expect(page.get_by_role("cell", name="12")).to_be_visible()
    developer.shot("airlock-table")
    page.go_back()
    page.get_by_role("link", name="output/figures/plot.png").click()
    expect(page.get_by_role("img", name="output/figures/plot.png")).to_be_visible()
    page.go_back()
    page.get_by_label("Ask to release output/table.csv").check()
    page.get_by_label("Ask to release output/figures/plot.png").check()
    page.get_by_role("button", name="Ask for release").click()
    expect(page.get_by_role("alert")).to_contain_text("Say why each is needed")  # and the ticks stay to fix it
    page.get_by_label("Ask to release output/table.csv").check()
    page.get_by_label("Reason for output/table.csv").fill("counts by group, all over 10")
    page.get_by_label("Ask to release output/figures/plot.png").check()
    page.get_by_label("Reason for output/figures/plot.png").fill("figure 1")
    page.get_by_role("button", name="Ask for release").click()
    expect(page.get_by_role("heading", name="Release request")).to_be_visible()
    request_url = page.url.replace(airlock.url, "")
    expect(page.get_by_role("button", name="Approve output/table.csv")).to_have_count(0)  # not their own
    developer.shot("airlock-request")
    developer.problems.clear()  # the 422 answer above is the point

    for name in ("checker", "checker2"):
        checker = visitors(name, base_url=airlock.url)
        log_in(checker, world, name)
        checker.goto(request_url)
        release = checker.page.get_by_role("button", name="Release", exact=True)
        for path in ("output/table.csv", "output/figures/plot.png"):
            expect(release).to_have_count(0)  # offered only once every file has its two approvals
            checker.page.get_by_label(f"Your comment on {path}").fill(f"{name}: fine")
            checker.page.get_by_role("button", name=f"Approve {path}").click()
            expect(checker.page.locator("section.file", has_text=path).locator(".yours")).to_have_text(
                "You approved this file; you may change your mind below."
            )
        if name == "checker":
            expect(checker.page.locator("#not-yet")).to_contain_text("output/table.csv: 1 of 2 approvals")
        checker.shot("airlock-reviewed")
    checker.page.get_by_role("button", name="Release", exact=True).click()
    expect(checker.page.locator("#status")).to_have_text("released")
    audit = checker.page.get_by_role("table").last
    expect(audit).to_contain_text("released")
    expect(audit).to_contain_text("approve")
    checker.shot("airlock-released")
    files = world.call("GET", "/api/workspaces/alpha-main/released-files").json()["items"]
    assert sorted(f["path"] for f in files) == ["output/figures/plot.png", "output/table.csv"]


def test_a_wrong_token_is_refused_in_words(airlock, world, visitors):  # noqa: F811
    visitor = visitors("stranger", base_url=airlock.url)
    visitor.goto("/login")
    visitor.page.get_by_label("Username").fill("developer")
    visitor.page.get_by_label("Single-use token").fill("not the words")
    visitor.page.get_by_role("button", name="Log in").click()
    expect(visitor.page.get_by_role("alert")).to_contain_text("wrong, used or expired")
    visitor.shot("airlock-login-refused")
    visitor.problems.clear()
    assert visitor.page.goto(airlock.url + "/").url.endswith("/login")  # no session: to the login page
