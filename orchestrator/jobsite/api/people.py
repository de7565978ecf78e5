"""/api/people and /api/me: people, their email addresses and global roles (admins manage them)."""

from fastapi import APIRouter

from orchestrator.jobsite.api.deps import ALREADY_EXISTS, ActorDep, JobsiteDep
from orchestrator.jobsite.models import Person, PersonCreate, PersonUpdate
from orchestrator.runtime.errors import Unauthenticated

router = APIRouter(prefix="/api", tags=["jobs site: people"])


@router.get("/me", response_model=Person, summary="Who you are, with your roles")
def me(jobsite: JobsiteDep, actor: ActorDep) -> Person:
    if actor.user_id is None:
        raise Unauthenticated("LOGIN_REQUIRED", "Log in (POST /token with grant_type=password) to see who you are.")
    return jobsite.get_person(actor.user_id, actor)


@router.post(
    "/people", response_model=Person, status_code=201, responses=ALREADY_EXISTS, summary="Create a person (admin)"
)
def create_person(body: PersonCreate, jobsite: JobsiteDep, actor: ActorDep) -> Person:
    return jobsite.create_person(body, actor)


@router.get(
    "/people/{username}",
    response_model=Person,
    summary="A person and their roles (email: only to themselves and admins)",
)
def get_person(username: str, jobsite: JobsiteDep, actor: ActorDep) -> Person:
    return jobsite.get_person(username, actor)


@router.patch(
    "/people/{username}", response_model=Person, summary="Set your email (or, as admin, anyone's email and roles)"
)
def update_person(username: str, body: PersonUpdate, jobsite: JobsiteDep, actor: ActorDep) -> Person:
    return jobsite.update_person(username, body, actor)
