"""The test catalogue: LOINC-coded tests and panels, their units and reference ranges.

Everyone signed in reads it; administrators edit it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import delete, select

from consult.center import Work
from consult.errors import Conflict, Forbidden, InvalidInput, NotFound
from consult.vocab import Role
from lab import catalogue_data as data
from lab.tables import LabRange, LabTest


@dataclass(frozen=True)
class RangeSpec:
    """One reference range row as given by an administrator; checks itself."""

    sex: str = ""
    age_min_years: float = 0.0
    age_max_years: float | None = None
    low: float | None = None
    high: float | None = None
    critical_low: float | None = None
    critical_high: float | None = None
    plausible_low: float | None = None
    plausible_high: float | None = None

    def __post_init__(self) -> None:
        if self.sex not in ("", "M", "F"):
            raise ValueError(f"range sex must be M, F or empty, not {self.sex!r}")
        if self.age_max_years is not None and self.age_max_years <= self.age_min_years:
            raise ValueError(f"age band {self.age_min_years}-{self.age_max_years} is empty")
        ordered = [
            self.plausible_low,
            self.critical_low,
            self.low,
            self.high,
            self.critical_high,
            self.plausible_high,
        ]
        present = [v for v in ordered if v is not None]
        if present != sorted(present):
            raise ValueError(
                "limits must rise: plausible low <= critical low <= low <= high "
                "<= critical high <= plausible high"
            )


@dataclass(frozen=True)
class TestSpec:
    """A catalogue entry as given by an administrator."""

    code: str
    name: str
    name_en: str
    unit: str = ""
    specimen_type: str = ""
    system: str = "LN"
    components: tuple[str, ...] = ()
    decimals: int = 1
    active: bool = True
    ranges: tuple[RangeSpec, ...] | None = field(default=None)


def _require_admin(work: Work) -> None:
    if work.principal.role is not Role.ADMIN:
        work.deny("lab.catalogue.edit")
        raise Forbidden("the test catalogue is edited by administrators")


async def seed(work: Work) -> None:
    """Load the seed catalogue into an empty catalogue."""
    if await work.session.scalar(select(LabTest.id).limit(1)) is not None:
        return
    work.session.add_all(
        LabTest(code=code, name=name, name_en=en, unit=unit, specimen_type=spec, decimals=decimals)
        for code, name, en, unit, spec, decimals in data.TESTS
    )
    work.session.add_all(
        LabTest(
            code=code, system=system, name=name, name_en=en, specimen_type=spec, components=list(c)
        )
        for code, system, name, en, spec, c in data.PANELS
    )
    work.session.add_all(
        LabRange(
            test_code=code,
            sex=sex,
            age_min_years=amin,
            age_max_years=amax,
            low=low,
            high=high,
            critical_low=cl,
            critical_high=ch,
            plausible_low=pl,
            plausible_high=ph,
        )
        for code, sex, amin, amax, low, high, cl, ch, pl, ph in data.RANGES
    )
    await work.session.flush()


async def list_tests(work: Work, *, active_only: bool = False) -> list[LabTest]:
    query = select(LabTest).order_by(LabTest.id)
    if active_only:
        query = query.where(LabTest.active.is_(True))
    return list(await work.session.scalars(query))


async def get_test(work: Work, code: str) -> LabTest:
    test = await work.session.scalar(select(LabTest).where(LabTest.code == code))
    if test is None:
        raise NotFound(f"no test {code} in the catalogue")
    return test


async def ranges_for(work: Work, codes: Iterable[str]) -> dict[str, list[LabRange]]:
    """Every range row of ``codes``, by code, in one query."""
    rows = await work.session.scalars(select(LabRange).where(LabRange.test_code.in_(set(codes))))
    found: dict[str, list[LabRange]] = defaultdict(list)
    for row in rows:
        found[row.test_code].append(row)
    return found


async def tests_by_code(work: Work, codes: Iterable[str]) -> dict[str, LabTest]:
    rows = await work.session.scalars(select(LabTest).where(LabTest.code.in_(set(codes))))
    return {t.code: t for t in rows}


async def expand(work: Work, codes: list[str]) -> list[LabTest]:
    """The orderable tests ``codes`` (panels or single tests), checked; panels first as given."""
    if not codes:
        raise InvalidInput("an order needs at least one test", field="tests")
    found = await tests_by_code(work, codes)
    missing = [c for c in codes if c not in found or not found[c].active]
    if missing:
        raise InvalidInput(f"unknown or inactive tests: {', '.join(missing)}", field="tests")
    return [found[c] for c in dict.fromkeys(codes)]


async def save_test(work: Work, spec: TestSpec) -> LabTest:
    """Create or update a catalogue entry (and replace its ranges when given)."""
    _require_admin(work)
    if spec.components:
        known = await tests_by_code(work, spec.components)
        missing = [c for c in spec.components if c not in known or known[c].is_panel]
        if missing:
            raise InvalidInput(
                f"panel components must be single tests in the catalogue: {', '.join(missing)}",
                field="components",
            )
    test = await work.session.scalar(select(LabTest).where(LabTest.code == spec.code))
    if test is None:
        test = LabTest(code=spec.code)
        work.session.add(test)
    elif test.is_panel != bool(spec.components):
        raise Conflict(f"{spec.code} cannot change between a panel and a single test")
    test.system, test.name, test.name_en = spec.system, spec.name, spec.name_en
    test.unit, test.specimen_type, test.decimals = spec.unit, spec.specimen_type, spec.decimals
    test.components, test.active = list(spec.components), spec.active
    if spec.ranges is not None:
        await work.session.execute(delete(LabRange).where(LabRange.test_code == spec.code))
        work.session.add_all(LabRange(test_code=spec.code, **r.__dict__) for r in spec.ranges)
    await work.session.flush()
    work.audit("lab.catalogue.edit", obj=("lab_test", test.id), code=spec.code)
    return test
