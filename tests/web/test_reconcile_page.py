"""The reconciliation page in Chromium: an ECG specialist (zh-CN) reaches it from the menu,
reads why an upload was held and files it on the right patient; a radiologist (English, on a
390 px phone) sees the held study with its reason in English."""

from __future__ import annotations

import pytest
from pydicom.uid import generate_uid

from tests.conftest import Api
from tests.core.helpers import new_request
from tests.ecg_center.files import normal_zip
from tests.ecg_center.test_reconcile import _patient, upload
from tests.imaging.conftest import make_ct
from tests.imaging.test_matching import _imaging_request, _stow
from tests.web.conftest import Browsers, screenshot, sqlite_only, wait_js

pytestmark = pytest.mark.browser
database = pytest.fixture(sqlite_only, name="database")


async def test_specialists_reconcile_from_their_page(api: Api, browsers: Browsers) -> None:
    village = await api.login("dr-village")
    township = await api.login("dr-township")
    patient, _ = await _patient(api, "vc-liujia")
    right, _ = await _patient(api, "th-xihe")  # who the township's upload really was
    ecg_request = await new_request(village, patient.id)
    status, body = await upload(
        township, normal_zip(seed=90), accession=ecg_request["identifier"], record_number="X-1"
    )
    assert status == 202, body
    held = body["held"]["id"]
    imaging = await _imaging_request(village, patient.id)
    stray = make_ct(study_uid=generate_uid(), patient_id="XH-9", accession=imaging["identifier"])
    assert await _stow(township, stray) == 200

    page = await browsers.login("ecg-reader")
    await page.click("nav a[href='/reconciliation']")
    await page.wait_for_selector(f"form[data-item='ecg-{held}']")
    reason = await page.inner_text(f"article:has(form[data-item='ecg-{held}']) .reason")
    assert "乡镇" in reason, reason
    await screenshot(page, "reconcile-ecg-zh")
    await page.fill(f"form[data-item='ecg-{held}'] input", str(right.id))
    await page.click(f"form[data-item='ecg-{held}'] button")
    await wait_js(page, f"!document.querySelector(\"form[data-item='ecg-{held}']\")")
    assert (await village.get(f"/api/v1/requests/{ecg_request['id']}/ecgs")).ok() == []
    filed = (await township.get(f"/api/v1/requests?patient_id={right.id}")).ok()
    assert [r["kind"] for r in filed] == ["ecg_read"]

    phone = await browsers.login("radiologist", width=390, height=844, lang="en")
    await phone.evaluate("localStorage.setItem('tc.lang', 'en')")
    await phone.goto("/reconciliation")
    await phone.wait_for_selector("#reconcile-list article[data-reason='other_clinic']")
    text = await phone.inner_text("#reconcile-list")
    assert "outside the sender's township" in text and "乡镇" not in text
    assert await phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    fits = "[...document.querySelectorAll('#reconcile-list article')].every((a) => a.scrollWidth <= a.clientWidth + 1)"
    assert await phone.evaluate(fits)
    await screenshot(phone, "reconcile-imaging-en-phone")
