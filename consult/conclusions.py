"""The consult opinion of a video consult: findings, advice and a structured plan.

It is an ordinary report of the request (:mod:`consult.reports`: draft, sign, amend, delivery):
``findings`` holds the findings, ``impression`` the advice, and ``data["plan"]`` the plan::

    {"kind": "treat_locally", "instructions": "..."}
    {"kind": "refer", "department": "cardiology", "instructions": "..."}
    {"kind": "follow_up", "follow_up_on": "2026-12-20", "instructions": "..."}

``data["conducted"]`` says whether the consult was held by video or answered in writing.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from consult.errors import InvalidInput
from consult.models import DiagnosticRequest

MAX_TEXT = 4000


class PlanKind(StrEnum):
    TREAT_LOCALLY = "treat_locally"
    REFER = "refer"
    FOLLOW_UP = "follow_up"


PLAN_ZH = {
    PlanKind.TREAT_LOCALLY: "基层治疗",
    PlanKind.REFER: "转诊",
    PlanKind.FOLLOW_UP: "随访",
}


def clean_plan(raw: Any, today: dt.date, *, required: bool) -> dict[str, Any] | None:
    """Validate a plan; return it normalised (or None when absent and not required)."""
    if raw is None or raw == {}:
        if required:
            raise InvalidInput("a consult opinion needs a plan", field="data.plan")
        return None
    if not isinstance(raw, dict):
        raise InvalidInput("the plan is an object", field="data.plan")
    try:
        kind = PlanKind(str(raw.get("kind")))
    except ValueError:
        raise InvalidInput(
            "plan kind is treat_locally, refer or follow_up", field="data.plan.kind"
        ) from None
    instructions = raw.get("instructions") or ""
    if not isinstance(instructions, str) or len(instructions) > MAX_TEXT:
        raise InvalidInput("instructions are text (at most 4000 characters)", field="data.plan")
    plan: dict[str, Any] = {"kind": str(kind), "instructions": instructions.strip()}
    if kind is PlanKind.TREAT_LOCALLY and required and not plan["instructions"]:
        raise InvalidInput(
            "treating locally needs instructions for the clinic", field="data.plan.instructions"
        )
    if kind is PlanKind.FOLLOW_UP:
        plan["follow_up_on"] = _date(raw.get("follow_up_on"), today).isoformat()
    if kind is PlanKind.REFER:
        department = raw.get("department") or ""
        if not isinstance(department, str) or len(department) > 32:
            raise InvalidInput("department is a department code", field="data.plan.department")
        plan["department"] = department.strip()
    return plan


def _date(value: Any, today: dt.date) -> dt.date:
    try:
        day = dt.date.fromisoformat(str(value))
    except ValueError:
        raise InvalidInput(
            "a follow-up needs a date (YYYY-MM-DD)", field="data.plan.follow_up_on"
        ) from None
    if day < today - dt.timedelta(days=1):
        raise InvalidInput("the follow-up date is in the past", field="data.plan.follow_up_on")
    return day


def clean_data(
    request: DiagnosticRequest, data: dict[str, Any], now: dt.datetime, *, signing: bool
) -> dict[str, Any]:
    """The report data of a consult opinion, checked (fully when signing)."""
    out = dict(data)
    plan = clean_plan(out.get("plan"), now.date(), required=signing)
    if plan is None:
        out.pop("plan", None)
    else:
        out["plan"] = plan
    if signing:
        held = any(e.get("event") == "start" for e in request.details.get("room_log", []))
        out["conducted"] = "video" if held else "written"
    return out
