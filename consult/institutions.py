"""Institutions (county hospital > township health centers > village clinics) and departments."""

from __future__ import annotations

from sqlalchemy import select

from consult.center import Work
from consult.errors import Conflict, InvalidInput, NotFound
from consult.models import Department, Institution
from consult.vocab import InstitutionLevel

PARENT_LEVEL = {
    InstitutionLevel.COUNTY: None,
    InstitutionLevel.TOWNSHIP: InstitutionLevel.COUNTY,
    InstitutionLevel.VILLAGE: InstitutionLevel.TOWNSHIP,
}


async def list_institutions(work: Work) -> list[Institution]:
    return list(await work.session.scalars(select(Institution).order_by(Institution.id)))


async def get_institution(work: Work, institution_id: int) -> Institution:
    inst = await work.session.get(Institution, institution_id)
    if inst is None:
        raise NotFound(f"no institution {institution_id}")
    return inst


async def by_code(work: Work, code: str) -> Institution:
    inst = await work.session.scalar(select(Institution).where(Institution.code == code))
    if inst is None:
        raise NotFound(f"no institution with code {code!r}")
    return inst


async def create_institution(
    work: Work,
    *,
    code: str,
    name: str,
    level: InstitutionLevel,
    parent_id: int | None = None,
    name_en: str = "",
    phone: str = "",
) -> Institution:
    """Create an institution under a parent of the level above it."""
    if await work.session.scalar(select(Institution.id).where(Institution.code == code)):
        raise Conflict(f"institution code {code!r} is taken", field="code")
    wanted_parent = PARENT_LEVEL[level]
    if wanted_parent is None:
        if parent_id is not None:
            raise InvalidInput("a county hospital has no parent", field="parent_id")
    else:
        parent = await work.session.get(Institution, parent_id) if parent_id else None
        if parent is None or parent.level is not wanted_parent:
            raise InvalidInput(
                f"a {level} institution needs a {wanted_parent} parent", field="parent_id"
            )
    inst = Institution(
        code=code, name=name, name_en=name_en, level=level, parent_id=parent_id, phone=phone
    )
    work.session.add(inst)
    await work.session.flush()
    work.audit("institution.create", obj=("institution", inst.id), code=code)
    return inst


async def add_department(
    work: Work, institution_id: int, *, code: str, name: str, name_en: str = ""
) -> Department:
    inst = await get_institution(work, institution_id)
    dep = Department(institution_id=inst.id, code=code, name=name, name_en=name_en)
    work.session.add(dep)
    await work.session.flush()
    work.audit("department.create", obj=("department", dep.id), code=code)
    return dep


async def county_department(work: Work, code: str) -> Department:
    """The county hospital's department with ``code``."""
    dep = await work.session.scalar(
        select(Department)
        .join(Institution, Institution.id == Department.institution_id)
        .where(Institution.level == InstitutionLevel.COUNTY, Department.code == code)
    )
    if dep is None:
        raise NotFound(f"the county hospital has no department {code!r}")
    return dep


async def set_his_endpoint(work: Work, institution_id: int, *, host: str, port: int) -> Institution:
    """Where the clinic's HIS takes results over MLLP (host and port; empty host or port 0: no
    messages are sent to it)."""
    inst = await get_institution(work, institution_id)
    host = host.strip()
    if len(host) > 253 or any(c.isspace() or c in "/@" for c in host):
        raise InvalidInput("HIS host must be a host name or an address", field="host")
    if not 0 <= port <= 65535:
        raise InvalidInput("HIS port must be between 0 and 65535", field="port")
    if bool(host) != bool(port):
        raise InvalidInput("HIS host and port go together", field="port")
    inst.his_host, inst.his_port = host, port
    work.audit("institution.his", obj=("institution", inst.id), host=host, port=port)
    return inst
