"""Demo data: a county medical community with one user per role (password ``demo-password``).

Seeded once into an empty database by ``telecenter serve --demo`` or ``telecenter demo``.
Other centers add their own demo data through :data:`DEMO_EXTENSIONS` (module paths of
``async def seed(work, demo)`` functions).
"""

from __future__ import annotations

import datetime as dt
import importlib
import logging
from dataclasses import dataclass, field

from sqlalchemy import func, select

from consult import consent as consent_
from consult import institutions
from consult import patients as patients_
from consult.center import Center, Work
from consult.models import Institution, User
from consult.principal import SYSTEM, Principal
from consult.residentid import check_character
from consult.vocab import ConsentScope, InstitutionLevel, Role, Sex

logger = logging.getLogger(__name__)

DEMO_PASSWORD = "demo-password"  # noqa: S105 (documented demo password)
DEMO_EXTENSIONS = ("imaging.demo", "lab.demo", "consult.capacity_demo")

COUNTY = ("county", "示范县人民医院", "Demo County People's Hospital")
DEPARTMENTS = (
    ("cardiology", "心内科 / 心电诊断中心", "Cardiology / ECG center"),
    ("radiology", "放射科 / 影像诊断中心", "Radiology / imaging center"),
    ("laboratory", "检验科 / 检验中心", "Laboratory"),
    ("internal_medicine", "内科", "Internal medicine"),
    ("emergency", "急诊科", "Emergency"),
    ("referral_desk", "转诊服务中心", "Referral desk"),
)
TOWNSHIPS = (
    ("th-dongcheng", "东城镇卫生院", "Dongcheng Township Health Center"),
    ("th-xihe", "西河乡卫生院", "Xihe Township Health Center"),
    ("th-nanshan", "南山镇卫生院", "Nanshan Township Health Center"),
)
VILLAGES = {
    "th-dongcheng": (
        ("vc-liujia", "刘家村卫生室", "Liujia Village Clinic"),
        ("vc-zhangzhuang", "张庄村卫生室", "Zhangzhuang Village Clinic"),
    ),
    "th-xihe": (
        ("vc-hekou", "河口村卫生室", "Hekou Village Clinic"),
        ("vc-shangpo", "上坡村卫生室", "Shangpo Village Clinic"),
    ),
    "th-nanshan": (
        ("vc-songlin", "松林村卫生室", "Songlin Village Clinic"),
        ("vc-qiaotou", "桥头村卫生室", "Qiaotou Village Clinic"),
    ),
}
USERS = (
    ("admin", "系统管理员", Role.ADMIN, "county", None),
    ("auditor", "审计员", Role.AUDITOR, "county", None),
    ("dr-village", "刘医生 (刘家村)", Role.VILLAGE_DOCTOR, "vc-liujia", None),
    ("dr-township", "王医生 (西河乡)", Role.TOWNSHIP_DOCTOR, "th-xihe", None),
    ("ecg-reader", "陈医生 (心电)", Role.ECG_SPECIALIST, "county", "cardiology"),
    ("radiologist", "李医生 (放射)", Role.IMAGING_SPECIALIST, "county", "radiology"),
    ("lab-tech", "赵技师 (检验)", Role.LAB_TECHNICIAN, "county", "laboratory"),
    ("lab-supervisor", "孙主任 (检验)", Role.LAB_SUPERVISOR, "county", "laboratory"),
    ("internist", "周医生 (内科)", Role.CONSULT_SPECIALIST, "county", "internal_medicine"),
    ("referral-desk", "吴护士 (转诊)", Role.REFERRAL_DESK, "county", "referral_desk"),
    # -- consult: one owner (a second reader, a department head, a second internist) --
    ("ecg-reader2", "林医生 (心电)", Role.ECG_SPECIALIST, "county", "cardiology"),
    ("ecg-head", "黄主任 (心内科)", Role.ECG_SPECIALIST, "county", "cardiology"),
    ("internist2", "郑医生 (内科)", Role.CONSULT_SPECIALIST, "county", "internal_medicine"),
    # -- critical alerts: the center's duty desk, the duty doctor of dr-village's township --
    ("duty-desk", "郑护士 (值班台)", Role.DUTY_DESK, "county", "emergency"),
    ("duty-dongcheng", "赵医生 (东城镇值班)", Role.TOWNSHIP_DOCTOR, "th-dongcheng", None),
    # -- referrals: the receiving departments' desks --
    ("cardio-desk", "郑护士长 (心内科)", Role.DEPARTMENT_DESK, "county", "cardiology"),
    ("er-desk", "冯医生 (急诊科)", Role.DEPARTMENT_DESK, "county", "emergency"),
    # -- statistics: the county health commission's supervisor --
    ("supervisor", "钱科长 (卫健委)", Role.SUPERVISOR, "county", None),
)
DEPARTMENT_HEADS = ("ecg-head",)
PHONES = {  # -- critical alerts: the numbers the duty desk calls --
    "county": "0371-6000 1200",
    "th-dongcheng": "0371-6210 3301",
    "th-xihe": "0371-6220 3302",
    "th-nanshan": "0371-6230 3303",
    "vc-liujia": "138 0371 1001",
    "vc-zhangzhuang": "138 0371 1002",
    "vc-hekou": "138 0371 1003",
    "vc-shangpo": "138 0371 1004",
    "vc-songlin": "138 0371 1005",
    "vc-qiaotou": "138 0371 1006",
}
PATIENTS = (
    ("张三", Sex.MALE, dt.date(1958, 3, 12)),
    ("李秀英", Sex.FEMALE, dt.date(1964, 7, 2)),
    ("王建国", Sex.MALE, dt.date(1971, 11, 23)),
)


@dataclass
class Demo:
    """What the core seeded, for the centers' demo extensions."""

    institutions: dict[str, Institution] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    patients: dict[str, list[int]] = field(default_factory=dict)


def demo_resident_id(region: str, birth: dt.date, order: int, sex: Sex) -> str:
    """A well-formed resident ID for demo patients."""
    seq = order * 2 + (1 if sex is Sex.MALE else 0)
    first17 = f"{region}{birth:%Y%m%d}{seq % 1000:03d}"
    return first17 + check_character(first17)


async def is_seeded(center: Center) -> bool:
    async with center.sessions() as session:
        return bool(await session.scalar(select(func.count()).select_from(Institution)))


async def seed(center: Center) -> bool:
    """Seed the demo community into an empty database; return False if it was not empty."""
    if await is_seeded(center):
        logger.info("database not empty; demo data not seeded")
        return False
    demo = Demo()
    async with center.work(client="demo") as work:
        await _institutions(work, demo)
        await _users(work, demo)
        await _patients(work, demo)
        for name in DEMO_EXTENSIONS:
            try:
                module = importlib.import_module(name)
            except ModuleNotFoundError as exc:
                if exc.name != name:
                    raise
                continue
            await module.seed(work, demo)
    await center.audit_log.drain()
    logger.info(
        "demo data seeded: %d institutions, %d users", len(demo.institutions), len(demo.users)
    )
    return True


async def _institutions(work: Work, demo: Demo) -> None:
    code, name, name_en = COUNTY
    county = await institutions.create_institution(
        work,
        code=code,
        name=name,
        name_en=name_en,
        level=InstitutionLevel.COUNTY,
        phone=PHONES.get(code, ""),
    )
    demo.institutions[code] = county
    for dcode, dname, dname_en in DEPARTMENTS:
        await institutions.add_department(work, county.id, code=dcode, name=dname, name_en=dname_en)
    for tcode, tname, tname_en in TOWNSHIPS:
        township = await institutions.create_institution(
            work,
            code=tcode,
            name=tname,
            name_en=tname_en,
            level=InstitutionLevel.TOWNSHIP,
            parent_id=county.id,
            phone=PHONES.get(tcode, ""),
        )
        demo.institutions[tcode] = township
        for vcode, vname, vname_en in VILLAGES[tcode]:
            demo.institutions[vcode] = await institutions.create_institution(
                work,
                code=vcode,
                name=vname,
                name_en=vname_en,
                level=InstitutionLevel.VILLAGE,
                parent_id=township.id,
                phone=PHONES.get(vcode, ""),
            )


async def _users(work: Work, demo: Demo) -> None:
    from consult import people

    shared_hash = await work.center.passwords.hash(DEMO_PASSWORD)
    for username, display, role, inst_code, dep in USERS:
        demo.users[username] = await people.create_user(
            work,
            username=username,
            password=DEMO_PASSWORD,
            password_hash=shared_hash,
            display_name=display,
            role=role,
            institution_id=demo.institutions[inst_code].id,
            department_code=dep,
        )
        demo.users[username].department_head = username in DEPARTMENT_HEADS


async def _patients(work: Work, demo: Demo) -> None:
    """A few patients at each clinic, with consent for the county, registered as by the clinic.

    The registrations are attributed to the ``admin`` user who seeded them.
    """
    admin = demo.users["admin"]
    clinics = [c for c in demo.institutions.values() if c.level is not InstitutionLevel.COUNTY]
    for index, clinic in enumerate(clinics):
        work.principal = Principal(
            user_id=admin.id,
            username=admin.username,
            display_name="demo seed",
            role=_clinic_role(clinic),
            institution_id=clinic.id,
            institution_level=clinic.level,
            clinic_scope=frozenset({clinic.id}),
        )
        ids = []
        for order, (name, sex, birth) in enumerate(PATIENTS):
            patient = await patients_.register(
                work,
                patients_.NewPatient(
                    name=name if index == 0 else f"{name}{index}",
                    sex=sex,
                    birth_date=birth,
                    resident_id=demo_resident_id("410101", birth, index * 10 + order, sex),
                    record_number=f"{clinic.code.upper()}-{order + 1:04d}",
                ),
            )
            await consent_.record(work, patient.id, scope=ConsentScope.RECORDS, note="demo")
            ids.append(patient.id)
        demo.patients[clinic.code] = ids
    work.principal = SYSTEM


def _clinic_role(clinic: Institution) -> Role:
    return (
        Role.TOWNSHIP_DOCTOR if clinic.level is InstitutionLevel.TOWNSHIP else Role.VILLAGE_DOCTOR
    )
