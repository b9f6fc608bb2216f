"""Who is calling, and what they may see.

A :class:`Principal` is built once per request from the token's user; every service takes it and
asks it the scoping questions, so the REST API, the DICOM node and the HL7 listener share one set
of rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from consult.models import Institution, User
from consult.vocab import SPECIALIST_KINDS, InstitutionLevel, RequestKind, Role


@dataclass(frozen=True)
class Principal:
    """An authenticated user with the institution scope that the role grants."""

    user_id: int
    username: str
    display_name: str
    role: Role
    institution_id: int
    institution_level: InstitutionLevel
    department_id: int | None = None
    clinic_scope: frozenset[int] = field(default_factory=frozenset)
    """Institutions whose patients and requests a clinic user sees (own + villages below)."""
    system: bool = False
    """The server itself (a protocol adapter acting for a registered device, a background job)."""
    department_head: bool = False
    """Heads the county department ``department_id``: may reassign its requests."""

    @property
    def is_clinic(self) -> bool:
        return self.role.is_clinic

    @property
    def kinds(self) -> frozenset[RequestKind]:
        """Request kinds this user works as a county specialist (empty for others)."""
        return SPECIALIST_KINDS.get(self.role, frozenset())

    def has(self, *roles: Role) -> bool:
        return self.role in roles


async def clinic_scope_of(session: AsyncSession, institution: Institution) -> frozenset[int]:
    """The institution and, for a township, the village clinics under it."""
    ids = {institution.id}
    if institution.level is InstitutionLevel.TOWNSHIP:
        rows = await session.scalars(
            select(Institution.id).where(Institution.parent_id == institution.id)
        )
        ids.update(rows)
    return frozenset(ids)


async def principal_for(session: AsyncSession, user: User) -> Principal:
    """Build the principal of ``user`` (its institution must be loaded)."""
    scope: frozenset[int] = frozenset()
    if user.role.is_clinic:
        scope = await clinic_scope_of(session, user.institution)
    return Principal(
        user_id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=user.role,
        institution_id=user.institution_id,
        institution_level=user.institution.level,
        department_id=user.department_id,
        clinic_scope=scope,
        department_head=user.department_head,
    )


SYSTEM = Principal(
    user_id=0,
    username="system",
    display_name="system",
    role=Role.ADMIN,
    institution_id=0,
    institution_level=InstitutionLevel.COUNTY,
    system=True,
)
"""The server itself (background jobs, protocol adapters acting for a registered device)."""
