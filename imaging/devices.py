"""Registered DICOM devices: who may associate with the node, and what each may do."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import or_, select

from consult.center import Work
from consult.errors import Conflict, Forbidden, InvalidInput, NotFound
from consult.models import Institution
from consult.vocab import InstitutionLevel, RequestKind, Role
from imaging.index import ImagingDevice
from imaging.node_values import AET_RE, DeviceInfo, Operation


def parse_operations(text: str) -> frozenset[Operation]:
    try:
        return frozenset(Operation(p.strip().lower()) for p in text.split(",") if p.strip())
    except ValueError:
        raise InvalidInput(
            f"operations must be among {', '.join(o.value for o in Operation)}", field="allow"
        ) from None


def check_aet(value: str) -> str:
    value = value.strip()
    if not AET_RE.match(value):
        raise InvalidInput("an AE title is 1-16 printable ASCII characters", field="ae_title")
    return value


def _info(device: ImagingDevice, institution: Institution) -> DeviceInfo:
    return DeviceInfo(
        id=device.id,
        ae_title=device.ae_title,
        host=device.host,
        port=device.port,
        institution_id=device.institution_id,
        institution_code=institution.code,
        county=institution.level is InstitutionLevel.COUNTY,
        operations=parse_operations(device.operations),
        active=device.active,
    )


async def add(
    work: Work,
    *,
    ae_title: str,
    host: str,
    port: int,
    institution_code: str,
    operations: frozenset[Operation],
) -> DeviceInfo:
    """Register a device (administrators, or the server itself)."""
    if work.principal.user_id != 0 and not work.principal.has(Role.ADMIN):
        work.deny("imaging.device.add")
        raise Forbidden("only administrators register devices")
    ae_title = check_aet(ae_title)
    if not host.strip() or len(host) > 255:
        raise InvalidInput("host must be 1-255 characters", field="host")
    if not 1 <= port <= 65535:
        raise InvalidInput("port must be 1-65535", field="port")
    institution = await work.session.scalar(
        select(Institution).where(Institution.code == institution_code)
    )
    if institution is None:
        raise InvalidInput(f"no institution {institution_code!r}", field="institution")
    if await work.session.scalar(
        select(ImagingDevice.id).where(ImagingDevice.ae_title == ae_title)
    ):
        raise Conflict(f"AE title {ae_title} is already registered", field="ae_title")
    device = ImagingDevice(
        ae_title=ae_title,
        host=host.strip(),
        port=port,
        institution_id=institution.id,
        operations=",".join(sorted(o.value for o in operations)),
        created_at=work.now,
    )
    work.session.add(device)
    await work.session.flush()
    work.audit("imaging.device.add", obj=("device", device.id), ae_title=ae_title, host=host)
    return _info(device, institution)


async def list_all(work: Work) -> list[DeviceInfo]:
    if work.principal.user_id != 0 and not work.principal.has(Role.ADMIN):
        raise Forbidden("only administrators list devices")
    rows = await work.session.execute(
        select(ImagingDevice, Institution)
        .join(Institution, Institution.id == ImagingDevice.institution_id)
        .order_by(ImagingDevice.ae_title)
    )
    return [_info(d, i) for d, i in rows]


@dataclass(frozen=True)
class Station:
    """A modality a request may be booked on, as a clinic sees it (no address)."""

    ae_title: str
    institution_id: int
    institution_code: str
    institution_name: str
    institution_name_en: str


async def stations(work: Work) -> list[Station]:
    """The active modalities the caller may book an imaging step on: for a clinic its own, its
    township's and the county's (where :func:`consult.identity.may_send_for` lets them perform
    its requests); for the county's imaging specialists and administrators every one."""
    principal = work.principal
    query = (
        select(ImagingDevice.ae_title, Institution)
        .join(Institution, Institution.id == ImagingDevice.institution_id)
        .where(ImagingDevice.active.is_(True))
        .order_by(Institution.level, ImagingDevice.ae_title)
    )
    if principal.is_clinic:
        mine = await work.session.get(Institution, principal.institution_id)
        near = {principal.institution_id, mine.parent_id if mine else None} - {None}
        query = query.where(
            or_(Institution.id.in_(near), Institution.level == InstitutionLevel.COUNTY)
        )
    elif not (principal.has(Role.ADMIN) or RequestKind.IMAGING_READ in principal.kinds):
        work.deny("imaging.stations", role=str(principal.role))
        raise Forbidden("only clinics and imaging readers book modalities")
    rows = await work.session.execute(query)
    return [Station(aet, i.id, i.code, i.name, i.name_en) for aet, i in rows]


async def by_title(work: Work, ae_title: str) -> DeviceInfo | None:
    """The active device with ``ae_title``, or None."""
    row = (
        await work.session.execute(
            select(ImagingDevice, Institution)
            .join(Institution, Institution.id == ImagingDevice.institution_id)
            .where(ImagingDevice.ae_title == ae_title.strip(), ImagingDevice.active.is_(True))
        )
    ).first()
    return _info(row[0], row[1]) if row else None


async def get(work: Work, ae_title: str) -> DeviceInfo:
    found = await by_title(work, ae_title)
    if found is None:
        raise NotFound(f"no device {ae_title}")
    return found
