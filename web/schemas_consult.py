"""The JSON shapes of ownership (reassignment, holds) and the consult opinion."""

from __future__ import annotations

import datetime as dt

from pydantic import Field

from consult.vocab import RequestStatus, Role
from web.schemas import In, Out


class ReassignIn(In):
    to_user_id: int
    reason: str = Field(min_length=1, max_length=2000)


class HoldIn(In):
    question: str = Field(min_length=1, max_length=4000)


class AnswerIn(In):
    answer: str = Field(min_length=1, max_length=4000)


class PersonOut(Out):
    id: int
    display_name: str
    role: Role
    department_head: bool


class HoldOut(Out):
    id: int
    request_id: int
    question: str
    asked_by: int
    asker_name: str
    asked_at: dt.datetime
    resume_status: RequestStatus
    answer: str
    answered_by: int | None
    answerer_name: str | None
    answered_at: dt.datetime | None
