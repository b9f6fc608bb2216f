"""Each main page in Chromium, driven as its users would, with a screenshot for reviewers in
``test-artifacts/screenshots``; no request leaves the loopback server (checked by the fixture)."""

from __future__ import annotations

import io
import uuid
from typing import Any

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

from tests.conftest import Api
from tests.imaging.conftest import make_ct
from tests.web.conftest import Browsers, screenshot, sqlite_only, wait_js

pytestmark = pytest.mark.browser
database = pytest.fixture(sqlite_only, name="database")  # the tour runs on SQLite only


async def test_sign_in_language_and_resident_id_check(api: Api, browsers: Browsers) -> None:
    page = await browsers.page()
    await page.goto("/clinic")
    await page.wait_for_url("**/login?next=%2Fclinic")
    await page.fill("#username", "dr-village")
    await page.fill("#password", "wrong-password")
    await page.click("#login-submit")
    await page.wait_for_selector("#login-error:not(:empty)")
    assert "错误" in await page.inner_text("#login-error")
    await screenshot(page, "login-zh")
    await page.click("#lang")
    await page.wait_for_selector("text=Sign in")
    await screenshot(page, "login-en")
    # the page's resident ID check agrees with GB 11643 (the server checks again)
    checks = await page.evaluate("""async () => {
        const m = await import(document.querySelector('link[rel=modulepreload]').href.replace('ui.js', 'residentid.js'));
        return ['11010519491231002X', '11010519491231002x', '110105194912310021', '11010519491331002X', '1101051949']
            .map((id) => { const r = m.checkResidentId(id); return [r.ok, r.problem, r.sex || null]; });
    }""")
    assert checks == [
        [True, None, "F"],
        [True, None, "F"],
        [False, "ridCheck", None],
        [False, "ridDate", None],
        [False, "ridLen", None],
    ]
    await page.fill("#username", "dr-village")
    await page.fill("#password", "demo-password")
    await page.click("#login-submit")
    await page.wait_for_url("**/clinic")
    assert "Liujia Village Clinic" in await page.inner_text("#who")  # English stays chosen
    await page.wait_for_selector("#requests table")
    await screenshot(page, "clinic-en")
    await page.set_viewport_size({"width": 800, "height": 1100})  # a tablet
    await screenshot(page, "clinic-tablet")


async def _referral(api: Api) -> dict[str, Any]:
    village = await api.login("dr-village")
    patient = (await village.get("/api/v1/patients")).ok()[0]
    request = (
        await village.post(
            "/api/v1/requests",
            {
                "patient_id": patient["id"],
                "kind": "video_consult",
                "priority": "stat",
                "clinical_question": "胸痛，疑急性冠脉综合征",
            },
        )
    ).ok()
    return (
        await village.post(
            "/api/v1/referrals",
            {
                "request_id": request["id"],
                "department": "cardiology",
                "reason": "胸痛伴ST段抬高",
                "urgency": "stat",
            },
        )
    ).ok()


async def test_referral_desk_accepts_with_a_slot_and_the_clinic_sees_it(
    api: Api, browsers: Browsers
) -> None:
    referral = await _referral(api)
    desk = await browsers.login("referral-desk")
    assert desk.url.endswith("/referrals")
    row = desk.locator(f"#referral-list tr[data-id='{referral['id']}']")
    await row.wait_for()
    await row.locator("button.accept").click()
    await desk.wait_for_selector("dialog select[name=slot_id]")  # the demo's capacity
    await screenshot(desk, "referral-accept-dialog")
    await desk.click("dialog button.primary")
    await row.locator("button.arrive").wait_for()
    await row.locator("button.arrive").click()
    await row.locator("button.back").wait_for()
    await row.locator("button.back").click()
    await desk.fill("dialog textarea[name=summary]", "PCI术后稳定，回乡镇随访")
    await desk.click("dialog button.primary")
    await desk.wait_for_selector(
        f"#referral-list tr[data-id='{referral['id']}'] >> text=PCI术后稳定"
    )
    await screenshot(desk, "referral-desk")
    village = await browsers.login("dr-village")
    place = (await row.locator("td.slot").inner_text()).split("\n")[0].split("·")[-1].strip()
    await village.wait_for_selector(f"#referrals >> text={place}")
    await screenshot(village, "clinic-referrals")


async def test_admin_pages(api: Api, browsers: Browsers) -> None:
    page = await browsers.login("admin")
    assert page.url.endswith("/admin")
    await page.wait_for_selector("#admin-body >> text=vc-liujia")
    await screenshot(page, "admin-institutions")
    await page.click("#tab-users")
    await page.wait_for_selector("#admin-body >> text=ecg-reader")
    await page.fill(".add-form input[name=username]", "dr-new")
    await page.fill(".add-form input[name=password]", "a-long-password-1")
    await page.fill(".add-form input[name=display_name]", "新医生")
    await page.select_option(".add-form select[name=role]", "ecg_specialist")
    await page.click(".add-form button.primary")
    await page.wait_for_selector("#admin-body >> text=dr-new")
    await screenshot(page, "admin-users")
    await page.click("#tab-devices")
    await page.wait_for_selector("#admin-body >> text=DEMO-CT")
    await page.fill(".add-form input[name=ae_title]", "XIHE-DR")
    await page.fill(".add-form input[name=host]", "127.0.0.1")
    await page.select_option(".add-form select[name=institution]", "th-xihe")
    await page.click(".add-form button.primary")
    await page.wait_for_selector("#admin-body >> text=XIHE-DR")
    await screenshot(page, "admin-devices")
    await page.click("#tab-catalogue")
    await page.wait_for_selector("#admin-body >> text=58410-2")
    await screenshot(page, "admin-catalogue")


async def test_auditor_filters_and_verifies_the_chain(api: Api, browsers: Browsers) -> None:
    page = await browsers.login("auditor")
    assert page.url.endswith("/audit")
    await page.wait_for_selector("#audit-result table tbody tr")
    await page.fill("#audit-filter input[name=actor]", "auditor")
    await page.fill("#audit-filter input[name=action]", "auth.login")
    await page.click("#audit-filter button.primary")
    await wait_js(
        page,
        "[...document.querySelectorAll('#audit-result tbody tr')].length > 0 && "
        "[...document.querySelectorAll('#audit-result tbody tr td:nth-child(3)')]"
        ".every((td) => td.textContent === 'auth.login')",
    )
    await page.click("#verify-chain")
    await page.wait_for_selector("#chain-result >> text=✓")
    await page.wait_for_selector("#anchor-result")  # no anchor yet on a server just started: ⚠
    await screenshot(page, "audit")


async def test_lab_entry_validation_and_critical_value(api: Api, browsers: Browsers) -> None:
    tech = await browsers.login("lab-tech")
    assert tech.url.endswith("/lab")
    await tech.click("#lab-orders button.open-order")
    await tech.wait_for_selector("#result-entry input[name='v_718-7']")
    values = {
        "6690-2": "6.1",
        "789-8": "4.5",
        "718-7": "45",
        "4544-3": "40",
        "787-2": "88",
        "785-6": "29",
        "786-4": "330",
        "777-3": "210",
    }
    for code, value in values.items():
        await tech.fill(f"#result-entry input[name='v_{code}']", value)
    await tech.click("#save-results")
    await tech.wait_for_selector("#lab-alerts table")  # haemoglobin 45 g/L is a critical value
    await tech.wait_for_selector("#result-entry tr.critical")
    await screenshot(tech, "lab-entry-critical")
    await tech.fill("#lab-alerts input[name=notified_person]", "东城镇卫生院 李医生")
    await tech.click("#lab-alerts button.primary")
    await wait_js(tech, "!document.querySelector('#lab-alerts table')")
    supervisor = await browsers.login("lab-supervisor")
    await supervisor.click("#lab-orders button.open-order")
    await supervisor.wait_for_selector("#release")
    await screenshot(supervisor, "lab-validation")
    await supervisor.click("#release")
    await supervisor.wait_for_selector("#lab-order h2 .chip.released")  # 已发布
    await supervisor.click("#print-lab")
    await supervisor.wait_for_selector("#report-sheet table.lab-results .flag-LL")
    await screenshot(supervisor, "report-print-lab")


async def _imaging_request(api: Api) -> dict[str, Any]:
    """A township's imaging request with a three-slice CT stored under its accession number."""
    township = await api.login("dr-township")
    patient = next(p for p in (await township.get("/api/v1/patients")).ok() if p["resident_id"])
    request = (
        await township.post(
            "/api/v1/requests",
            {
                "patient_id": patient["id"],
                "kind": "imaging_read",
                "priority": "urgent",
                "clinical_question": "头痛，除外出血",
            },
        )
    ).ok()
    study, series = generate_uid(), generate_uid()
    boundary = uuid.uuid4().hex
    body = io.BytesIO()
    for i in (1, 2, 3):
        ds = make_ct(
            patient_id=patient["resident_id"],
            patient_name="Test^Patient",
            study_uid=study,
            series_uid=series,
            instance=i,
            accession=request["identifier"],
            size=128,
        )
        buf = io.BytesIO()
        pydicom.dcmwrite(buf, ds, enforce_file_format=True)
        body.write(f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode())
        body.write(buf.getvalue())
        body.write(b"\r\n")
    # and a two-frame secondary capture (pydicom's sample) as a second study of the same request
    sample = get_testdata_file("SC_rgb_rle_2frame.dcm")
    if sample is not None:
        ds = pydicom.dcmread(str(sample))
        ds.PatientID, ds.AccessionNumber = patient["resident_id"], request["identifier"]
        ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
        buf = io.BytesIO()
        pydicom.dcmwrite(buf, ds, enforce_file_format=True)
        body.write(f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode())
        body.write(buf.getvalue())
        body.write(b"\r\n")
    body.write(f"--{boundary}--\r\n".encode())
    headers = {
        **township.headers,
        "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
    }
    async with api.client.post("/dicom-web/studies", data=body.getvalue(), headers=headers) as r:
        assert r.status in (200, 202), await r.text()
    return request


async def test_image_viewer_scrolls_windows_and_signs(api: Api, browsers: Browsers) -> None:
    request = await _imaging_request(api)
    page = await browsers.login("radiologist")
    assert page.url.endswith("/worklist/imaging_read")
    await page.wait_for_selector(f"#worklist tr[data-id='{request['id']}']")
    await screenshot(page, "worklist-imaging")
    await page.goto(f"/imaging/{request['id']}")
    await page.wait_for_selector("#studies button[data-series].current")
    ct = page.locator("#studies button[data-series]", has_text="AXIAL")
    multi = page.locator("#studies button[data-series]", has_text="(1)")
    # the multi-frame study scrolls frame by frame: two frames of one instance
    await multi.click()
    await wait_js(
        page, "document.querySelector('#image-stage .overlay').textContent.startsWith('2 / 2')"
    )
    await page.hover("#image-stage")
    await page.mouse.wheel(0, -120)
    await wait_js(
        page, "document.querySelector('#image-stage img').src.includes('/frames/1/rendered')"
    )
    await wait_js(page, "document.querySelector('#image-stage img').naturalWidth > 0")
    await ct.click()
    await wait_js(
        page, "document.querySelector('#image-stage .overlay').textContent.startsWith('2 / 3')"
    )
    await wait_js(page, "document.querySelector('#image-stage img').naturalWidth > 0")
    await page.hover("#image-stage")
    await page.mouse.wheel(0, 120)
    await wait_js(
        page, "document.querySelector('#image-stage .overlay').textContent.startsWith('3 / 3')"
    )
    await page.click("button[data-preset=bone]")
    await wait_js(page, "document.querySelector('#image-stage img').src.includes('preset=bone')")
    await wait_js(
        page,
        "document.querySelector('#image-stage img').complete && document.querySelector('#image-stage img').naturalWidth > 0",
    )
    await page.click("#key-image")
    await page.fill("#findings", "脑实质未见明显出血。")
    await page.fill("#impression", "颅脑CT平扫未见异常")
    await screenshot(page, "image-viewer")
    await page.click("#sign")
    await page.wait_for_selector("#signed-note")


async def test_consult_worklist(api: Api, browsers: Browsers) -> None:
    await _referral(api)  # also makes a stat video consult
    page = await browsers.login("internist")
    assert page.url.endswith("/worklist/video_consult")
    await page.wait_for_selector("#worklist tr.item")
    await screenshot(page, "worklist-consult")
