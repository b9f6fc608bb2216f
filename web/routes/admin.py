"""Institutions, departments and users (administrators change them; everyone may list
institutions, which the pages need to show names)."""

from __future__ import annotations

from consult import institutions, people
from consult.center import Work
from consult.errors import Forbidden
from consult.models import Institution, User
from consult.vocab import Role
from web.api import Call, Endpoints
from web.schemas import (
    DepartmentIn,
    DepartmentOut,
    InstitutionIn,
    InstitutionOut,
    PasswordIn,
    UserIn,
    UserOut,
    UserPatch,
)

endpoints = Endpoints("admin")


def require_admin(work: Work) -> None:
    if work.principal.role is not Role.ADMIN:
        work.deny("admin", role=str(work.principal.role))
        raise Forbidden("administrators only")


@endpoints.get(
    "/api/v1/institutions",
    summary="All institutions with their departments",
    response=list[InstitutionOut],
    aggregate=True,
)
async def list_institutions(call: Call) -> list[Institution]:
    async with call.work() as work:
        return await institutions.list_institutions(work)


@endpoints.post(
    "/api/v1/institutions",
    summary="Create an institution",
    body=InstitutionIn,
    response=InstitutionOut,
    status=201,
)
async def create_institution(call: Call) -> Institution:
    async with call.work() as work:
        require_admin(work)
        inst = await institutions.create_institution(work, **call.body.model_dump())
        await work.session.refresh(inst, ["departments"])
        return inst


@endpoints.post(
    r"/api/v1/institutions/{id:\d+}/departments",
    summary="Add a department",
    body=DepartmentIn,
    response=DepartmentOut,
    status=201,
)
async def add_department(call: Call) -> object:
    async with call.work() as work:
        require_admin(work)
        return await institutions.add_department(
            work, call.path_int("id"), **call.body.model_dump()
        )


@endpoints.get("/api/v1/users", summary="All users", response=list[UserOut])
async def list_users(call: Call) -> list[User]:
    async with call.work() as work:
        require_admin(work)
        return await people.list_users(work)


@endpoints.post("/api/v1/users", summary="Create a user", body=UserIn, response=UserOut, status=201)
async def create_user(call: Call) -> User:
    body: UserIn = call.body
    async with call.work() as work:
        require_admin(work)
        return await people.create_user(
            work,
            username=body.username,
            password=body.password,
            display_name=body.display_name,
            role=body.role,
            institution_id=body.institution_id,
            department_code=body.department,
        )


@endpoints.patch(
    r"/api/v1/users/{id:\d+}", summary="Enable or disable a user", body=UserPatch, response=UserOut
)
async def patch_user(call: Call) -> User:
    async with call.work() as work:
        require_admin(work)
        return await people.set_active(work, call.path_int("id"), call.body.active)


@endpoints.post(
    r"/api/v1/users/{id:\d+}/password",
    summary="Set a user's password (revokes their tokens)",
    body=PasswordIn,
)
async def set_password(call: Call) -> None:
    async with call.work() as work:
        if call.path_int("id") != work.principal.user_id:
            require_admin(work)
        await people.set_password(work, call.path_int("id"), call.body.password)
