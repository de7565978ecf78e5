"""The demo `make run` sets up so a new user can submit a job request at once: project `demo`, its
workspace `demo-study` on a local git repository made from examples/study, run at the local site,
with the local admin as its developer. Made once; a later start leaves what exists alone."""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from orchestrator.jobsite.models import MembershipSet, ProjectCreate, ProjectRole, WorkspaceCreate
from orchestrator.jobsite.permissions import Actor
from orchestrator.runtime.errors import Conflict

DEMO_PROJECT, DEMO_WORKSPACE = "demo", "demo-study"
_GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "orchestrator demo",
    "GIT_AUTHOR_EMAIL": "demo@localhost",
    "GIT_COMMITTER_NAME": "orchestrator demo",
    "GIT_COMMITTER_EMAIL": "demo@localhost",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
}


def demo_repository(study: Path, bare: Path) -> Path:
    """A bare repository whose `main` holds a copy of `study` (made once)."""
    if (bare / "HEAD").is_file():
        return bare
    env = {**os.environ, **_GIT_IDENTITY}

    def git(*args, cwd=None):
        subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)

    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch) / "study"
        shutil.copytree(study, work, ignore=shutil.ignore_patterns("__pycache__", "output", "metadata"))
        git("init", "-q", "--initial-branch=main", cwd=work)
        git("add", "-A", cwd=work)
        git("commit", "-q", "-m", "The example study", cwd=work)
        git("clone", "-q", "--bare", str(work), str(bare))
    return bare


def ensure_demo(jobsite, study: Path, home: Path, admin: str, site_id: str) -> None:
    bare = demo_repository(study, home / "demo-study.git")
    actor = Actor(user_id=admin, is_admin=True)
    try:
        jobsite.create_project(
            ProjectCreate(
                slug=DEMO_PROJECT,
                name="Demo project",
                org="This machine",
                status_description="Made by `make run`: a workspace on a local copy of *examples/study*.",
            ),
            actor,
        )
    except Conflict:
        pass
    jobsite.set_membership(DEMO_PROJECT, admin, MembershipSet(roles=[ProjectRole.DEVELOPER]), actor)
    developer = jobsite.actor_for(admin, is_admin=True)
    try:
        jobsite.create_workspace(
            DEMO_PROJECT,
            WorkspaceCreate(
                name=DEMO_WORKSPACE,
                repo=str(bare),
                branch="main",
                site_id=site_id,
                purpose="Try a job request: orchestrator requests submit demo-study run_all --wait",
            ),
            developer,
        )
    except Conflict:
        pass
