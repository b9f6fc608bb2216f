"""Demo capacity: a week of cath-lab sessions, ward beds and clinic sessions at the county."""

from __future__ import annotations

import datetime as dt

from consult import capacity
from consult.center import Work
from consult.demo import Demo
from consult.vocab import SlotKind

DAYS = 7
# (department, kind, place, start hour, end hour, places)
SESSIONS = (
    ("cardiology", SlotKind.CATH_LAB, "导管室 1号", 8, 12, 2),
    ("cardiology", SlotKind.CATH_LAB, "导管室 1号", 14, 18, 2),
    ("cardiology", SlotKind.WARD_BED, "心内科冠心病监护室", 0, 24, 3),
    ("cardiology", SlotKind.CLINIC_SESSION, "心内科门诊 3诊室", 8, 12, 10),
    ("emergency", SlotKind.ICU_BED, "急诊抢救室", 0, 24, 4),
    ("internal_medicine", SlotKind.WARD_BED, "内科病区", 0, 24, 5),
)


async def seed(work: Work, demo: Demo) -> None:
    """Publish a week of capacity from today (center local time) on."""
    today = work.now.astimezone(capacity.zone(work)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    for day in range(DAYS):
        base = today + dt.timedelta(days=day)
        for department, kind, place, start, end, places in SESSIONS:
            starts_at = base + dt.timedelta(hours=start)
            ends_at = base + dt.timedelta(hours=end)
            if ends_at <= work.now:
                continue
            await capacity.publish(
                work,
                capacity.NewSlot(department, kind, place, starts_at, ends_at, places),
            )
