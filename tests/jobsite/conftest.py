"""Fixtures of the jobs site's tests: its store on the runtime's (SQLite and PostgreSQL), a real server
serving both, a real git repository, and one person per role."""

import secrets
from dataclasses import dataclass, field

import pytest
import requests

from orchestrator.jobsite.models import (
    GlobalRole,
    MembershipSet,
    PersonCreate,
    ProjectCreate,
    ProjectRole,
    WorkspaceCreate,
)
from orchestrator.jobsite.permissions import Actor
from orchestrator.jobsite.store import JobsiteStore
from orchestrator.runtime.models import Principal, SiteCreate, Workflow
from orchestrator.server import create_app
from tests.conftest import LiveServer
from tests.jobsite.repos import Repo
from tests.jobsite.smtp import mailbox, port, smtp_server, start_server  # noqa: F401  (fixtures)

ADMIN = Actor(user_id="admin", is_admin=True)
# Who the permission matrix asks as: anonymous, and one person per role.
ROLES = ("anonymous", "collaborator", "developer", "other_developer", "checker", "publisher", "admin")


@pytest.fixture
def jobsite(store) -> JobsiteStore:
    jobsite = JobsiteStore.open(store)
    store.put_workflow(Workflow(id="pipeline-1.0.0", name="Pipeline", dagster_job="pipeline", capability_ids=[]))
    for site_id in ("site-a", "site-b"):
        store.create_site(SiteCreate(id=site_id, capability_ids=[]))
    return jobsite


@pytest.fixture
def jobsite_server(store, jobsite):
    with LiveServer(store, create_app(store, jobsite)) as url:
        yield url


@pytest.fixture
def repo(tmp_path) -> Repo:
    return Repo(tmp_path / "git")


@dataclass
class World:
    url: str
    store: object
    jobsite: JobsiteStore
    repo: Repo
    tokens: dict[str, str | None] = field(default_factory=dict)
    passwords: dict[str, str] = field(default_factory=dict)

    def call(self, method: str, path: str, as_: str = "developer", **kwargs) -> requests.Response:
        token = self.tokens[as_]
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        headers.update(kwargs.pop("headers", {}))
        return requests.request(method, self.url + path, headers=headers, timeout=120, **kwargs)

    def actor(self, role: str) -> Actor:
        user = None if role == "anonymous" else role
        return self.jobsite.actor(None if user is None else Principal(kind="user", id=user, is_admin=role == "admin"))


@pytest.fixture
def world(store, jobsite, jobsite_server, repo) -> World:
    """Projects `alpha` and `beta`; workspace `alpha-main` (alpha, site-a, on `repo`); one person per role:
    collaborator and developer of alpha, other_developer of beta, checker, publisher, admin."""
    store.create_user("admin", "admin-password", is_admin=True)
    for slug in ("alpha", "beta"):
        jobsite.create_project(ProjectCreate(slug=slug, name=slug.title(), org="Org"), ADMIN)
    people = {
        "collaborator": ("alpha", ProjectRole.COLLABORATOR, []),
        "developer": ("alpha", ProjectRole.DEVELOPER, []),
        "other_developer": ("beta", ProjectRole.DEVELOPER, []),
        "checker": (None, None, [GlobalRole.OUTPUT_CHECKER]),
        "publisher": (None, None, [GlobalRole.OUTPUT_PUBLISHER]),
    }
    passwords = {"admin": "admin-password"}
    for name, (project, role, roles) in people.items():
        passwords[name] = secrets.token_urlsafe(12)
        jobsite.create_person(
            PersonCreate(username=name, password=passwords[name], email=f"{name}@example.org", roles=roles), ADMIN
        )
        if project:
            jobsite.set_membership(project, name, MembershipSet(roles=[role]), ADMIN)
    developer = jobsite.actor(Principal(kind="user", id="developer"))
    jobsite.create_workspace(
        "alpha", WorkspaceCreate(name="alpha-main", repo=repo.url, branch="main", site_id="site-a"), developer
    )
    tokens = {name: store.token_for_user(name, password).access_token for name, password in passwords.items()}
    site_a = store.generate_credentials("site-a")  # as_="site-a": the site's airlock calling
    tokens["site-a"] = store.token_for_client(site_a.client_id, site_a.client_secret).access_token
    return World(
        url=jobsite_server,
        store=store,
        jobsite=jobsite,
        repo=repo,
        tokens={"anonymous": None, **tokens},
        passwords=passwords,
    )
