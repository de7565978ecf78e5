"""Released outputs, publications and sites' status in a real browser: a developer sees the released
files and drafts a publication, a publisher publishes it, an anonymous visitor reads and downloads it
(same sha256), a checker deletes a file from every view, after a page that asks to confirm; other people see only what their role allows."""

import hashlib

from playwright.sync_api import expect

from orchestrator.runtime.models import Principal, SiteLoad
from tests.jobsite.releases import record, release_body

TABLE = b"group,count\nA,10\nB,12\n"


def test_from_released_files_to_a_publication_anyone_downloads(world, visitors):
    assert record(world, release_body(world, {"output/table.csv": TABLE, "output/notes.txt": b"notes\n"})).ok
    developer = visitors("developer")
    developer.log_in("developer", world.passwords["developer"])
    developer.goto("/workspaces/alpha-main/outputs")
    page = developer.page
    expect(page.get_by_role("link", name="output/table.csv").first).to_be_visible()
    with page.expect_download() as download:
        page.get_by_role("link", name="output/table.csv").first.click()
    data = open(download.value.path(), "rb").read()
    assert data == TABLE
    page.get_by_label("Title of a draft publication").fill("Counts by group")
    page.get_by_role("button", name="Draft a publication").click()
    expect(page.get_by_role("heading", name="Counts by group")).to_contain_text("draft")
    expect(page.get_by_role("button", name="Publish", exact=True)).to_have_count(0)  # publishers publish
    developer.shot("outputs-draft")

    anonymous = visitors()
    anonymous.goto("/workspaces/alpha-main/outputs")
    expect(anonymous.page.get_by_text("Released files are for the project's developers")).to_be_visible()
    expect(anonymous.page.get_by_role("heading", name="Counts by group")).to_have_count(0)  # a draft is not public

    publisher = visitors("publisher")
    publisher.log_in("publisher", world.passwords["publisher"])
    publisher.goto("/workspaces/alpha-main/outputs")
    publisher.page.get_by_role("button", name="Publish", exact=True).click()
    expect(publisher.page.get_by_role("heading", name="Counts by group")).to_contain_text("published")
    publisher.shot("outputs-published")

    anonymous.goto("/workspaces/alpha-main/outputs")
    expect(anonymous.page.get_by_role("heading", name="Counts by group")).to_contain_text("published")
    with anonymous.page.expect_download() as download:
        anonymous.page.get_by_role("link", name="output/table.csv").click()
    assert hashlib.sha256(open(download.value.path(), "rb").read()).hexdigest() == hashlib.sha256(TABLE).hexdigest()
    anonymous.shot("outputs-public")

    checker = visitors("checker")
    checker.log_in("checker", world.passwords["checker"])
    checker.goto("/workspaces/alpha-main/outputs")
    checker.page.get_by_role("link", name="Delete output/table.csv from its release").click()
    expect(checker.page.get_by_role("heading", name="Delete output/table.csv?")).to_be_visible()
    checker.shot("confirm-delete")
    checker.page.get_by_role("link", name="Keep it").click()  # changed their mind: nothing happens
    expect(checker.page.get_by_role("link", name="output/table.csv").first).to_be_visible()
    checker.page.get_by_role("link", name="Delete output/table.csv from its release").click()
    checker.page.get_by_role("button", name="Delete output/table.csv").click()
    expect(checker.page.get_by_role("heading", name="Outputs of alpha-main")).to_be_visible()
    notes_url = checker.page.get_by_role("link", name="Delete output/notes.txt from its release").get_attribute("href")
    refused = developer.page.goto(notes_url)  # not a checker: no confirm page, and the POST is refused too
    assert refused.status == 403
    developer.problems.clear()
    anonymous.goto("/workspaces/alpha-main/outputs")
    expect(anonymous.page.get_by_role("link", name="output/table.csv")).to_have_count(0)
    expect(anonymous.page.get_by_role("link", name="output/notes.txt")).to_be_visible()


def test_sites_status_shows_up_down_load_pause_and_maintenance(world, visitors):
    visitor = visitors()
    visitor.goto("/status")
    row = visitor.page.get_by_role("row", name="site-a")
    expect(row).to_contain_text("down")
    expect(row).to_contain_text("never")
    world.store.heartbeat(Principal(kind="site", id="site-a"), [], site_status=SiteLoad(running=2, queued=1))
    visitor.goto("/status")
    expect(row).to_contain_text("up")
    expect(row.get_by_role("cell").nth(2)).to_have_text("2")
    expect(row).not_to_contain_text("paused")
    world.store.set_site_paused("site-a", True)  # `orchestrator site pause`, `maintenance on`
    world.store.set_site_maintenance("site-a", True)
    visitor.goto("/status")
    expect(row).to_contain_text("paused")
    expect(row).to_contain_text("database maintenance")
    visitor.shot("sites")
