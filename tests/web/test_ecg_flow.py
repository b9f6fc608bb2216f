"""End to end in Chromium: a village doctor registers a patient and sends an ECG with ST elevation;
the ECG reader's worklist shows it on top as critical without a reload; the reader signs; the
village console shows the report."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import Api
from tests.ecg.synth import SynthSpec, synth
from tests.web.conftest import Browsers, app_of, screenshot, wait_js

pytestmark = pytest.mark.browser
RESIDENT_ID = "11010519491231002X"  # the standard's own example: valid, born 1949-12-31, female


def stemi_csv(path: Path) -> Path:
    record = synth(SynthSpec(st_chest={"V2": 0.3, "V3": 0.35, "V4": 0.25}, sex="M", age=60))
    buf = io.StringIO()
    np.savetxt(buf, np.asarray(record.samples).T, fmt="%.4f", delimiter=",")
    path.write_text(buf.getvalue())
    return path


def ecg_api_present(api: Api) -> bool:
    return any(
        getattr(r.resource, "canonical", "") == "/api/v1/ecgs" for r in app_of(api).router.routes()
    )


async def test_stemi_from_village_to_signed_report(
    api: Api, browsers: Browsers, tmp_path: Path
) -> None:
    if not ecg_api_present(api):
        pytest.skip("the ECG upload API (POST /api/v1/ecgs) is not wired yet")
    reader = await browsers.login("ecg-reader")
    assert "/worklist/ecg_read" in reader.url
    await reader.wait_for_selector("#worklist table")
    await wait_js(
        reader,
        "document.getElementById('live') && !document.getElementById('live').classList.contains('off')",
    )

    village = await browsers.login("dr-village")
    assert village.url.endswith("/clinic")
    assert "刘家村卫生室" in await village.inner_text("#who")
    # register with a resident ID checked as typed
    await village.click("details.register summary")
    await village.fill("#reg-name", "王建国")
    await village.fill("#resident_id", RESIDENT_ID[:-1] + "1")  # a wrong check character
    assert "bad" in (await village.get_attribute("#rid-hint", "class") or "")
    await village.fill("#resident_id", RESIDENT_ID)
    assert "good" in (await village.get_attribute("#rid-hint", "class") or "")
    assert await village.input_value("input[name=birth_date]") == "1949-12-31"
    await screenshot(village, "clinic-register")
    await village.click("#register-submit")
    await village.wait_for_selector("#selected-patient .chip.ok")  # consent recorded

    await village.select_option("#request-kind", "ecg_read")
    await village.set_input_files("#ecg-file", str(stemi_csv(tmp_path / "stemi.csv")))
    await village.fill("input[name=csv_fs]", "500")
    await village.fill("textarea[name=clinical_question]", "胸痛2小时，出汗")
    await village.click("#request-submit")
    await village.wait_for_selector("#requests tr.critical", timeout=60_000)

    # the reader's worklist updates live: the critical item is on top
    first = reader.locator("#worklist tbody tr").first
    await first.locator("xpath=self::tr[contains(@class,'critical')]").wait_for(timeout=30_000)
    assert "王建国" in await first.inner_text()
    await reader.wait_for_selector("#stat-banner:not([hidden])")
    await screenshot(reader, "worklist-ecg-critical")

    request_id = int(await first.get_attribute("data-id") or 0)
    await first.locator("a.button.primary").click()
    await reader.wait_for_selector("#critical-reasons")
    await wait_js(reader, "document.getElementById('ecg-canvas').width > 500")
    assert "STEMI" in await reader.inner_text("#statements")
    # calipers: at zoom 1 the paper is 4 px/mm, so 100 px = 25 mm = 1000 ms
    await reader.click("button[data-zoom='1']")
    box = await reader.locator("#ecg-canvas").bounding_box()
    assert box is not None
    x0, y0 = box["x"] + 200, box["y"] + 100
    await reader.mouse.move(x0, y0)
    await reader.mouse.down()
    await reader.mouse.move(x0 + 100, y0, steps=4)
    await reader.mouse.up()
    assert (await reader.inner_text("#caliper-readout")).startswith("1000 ms")
    await reader.fill("#impression", "急性前壁ST段抬高型心肌梗死，请立即转诊")
    await screenshot(reader, "ecg-viewer")
    await reader.click("#sign")
    await reader.wait_for_selector("#signed-note", timeout=30_000)
    assert await reader.is_disabled("#impression")

    # the village console gets the report live
    row = village.locator("#inbox tr.unread")
    await row.wait_for(timeout=30_000)
    assert "急性前壁" in await row.inner_text()
    await screenshot(village, "clinic-inbox")
    await row.locator("button.mark-read").click()
    await village.wait_for_selector("#inbox tr[data-report]:not(.unread)")
    await village.locator("#inbox tr[data-report] a.button").first.click()
    await village.wait_for_selector("#report-sheet img.tracing-img")
    await wait_js(
        village, "document.querySelector('#report-sheet img.tracing-img').naturalWidth > 0"
    )
    sheet = await village.inner_text("#report-sheet")
    assert "王建国" in sheet and "急性前壁" in sheet and "示范县人民医院" in sheet
    await village.emulate_media(media="print")
    await screenshot(village, "report-print")

    # the reader corrects the signed report with an amendment; the old version is kept
    await reader.click("#amend")
    await reader.fill("#impression", "急性前壁ST段抬高型心肌梗死（V2-V4），已电话通知")
    await reader.fill("#amend-reason", "补充导联与通知记录")
    await reader.click("#amend-form button.primary")
    await reader.wait_for_selector("#signed-note .chip.amended")
    versions = (
        await (await api.login("ecg-reader")).get(f"/api/v1/requests/{request_id}/reports")
    ).ok()
    latest = max(versions, key=lambda v: v["version"])
    assert len(versions) == 2 and latest["status"] == "amended"
    assert latest["amendment_reason"] == "补充导联与通知记录"
