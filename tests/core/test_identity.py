"""The pure parts of the matching rule: names, dates, the identity an item carries."""

from __future__ import annotations

import datetime as dt

from consult.identity import REASON_TEXT, Identity, Reason, dicom_date, names_agree
from tests.core.helpers import resident_id


def test_names_agree_across_dicom_groups_spacing_and_case() -> None:
    assert names_agree("张三", "张三")
    assert names_agree("Zhang^San=张三", "张三")
    assert names_agree("zhang^san", "Zhang San")
    assert names_agree("张 三", "张三")
    assert not names_agree("张三1", "张三")
    assert not names_agree("", "张三")
    assert not names_agree("张三", "")


def test_dicom_dates() -> None:
    assert dicom_date("19580312") == dt.date(1958, 3, 12)
    assert dicom_date("19581312") is None
    assert dicom_date("1958-03-12") is None
    assert dicom_date("") is None


def test_identity_splits_resident_ids_from_record_numbers() -> None:
    rid = resident_id("19580312", 991)
    identity = Identity(patient_ids=(rid, " VC-0001 ", "", "not-an-id"))
    assert identity.resident_ids() == {rid}
    assert identity.numbers() == {rid, "VC-0001", "not-an-id"}


def test_every_reason_has_chinese_and_english() -> None:
    for reason in Reason:
        zh, en = REASON_TEXT[reason]
        assert zh and en and zh != en
        assert any("\u4e00" <= c <= "\u9fff" for c in zh), reason
