"""In Chromium: a 30-minute ECG read in pages of strips from its overview; signed only when seen."""

from __future__ import annotations

import math
from typing import Any

import pytest

from ecg.store import EcgRecording
from tests.conftest import Api
from tests.core.helpers import new_patient
from tests.ecg.synth import SynthSpec, synth
from tests.ecg_center.files import wfdb_zip
from tests.ecg_center.test_ecg_api import upload
from tests.ecg_center.test_long_reading import long_zip
from tests.web.conftest import Browsers, app_of, screenshot, sqlite_only, wait_js
from web.ecg_wiring import ECG_INGEST

pytestmark = pytest.mark.browser
database = pytest.fixture(sqlite_only, name="database")

VT_AT = 1400.0
DARK = """(() => {
  const c = document.getElementById('%s');
  if (!c || !c.width) return 0;
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 0; i < d.length; i += 4) {
    if (d[i + 3] > 200 && d[i] < 90 && d[i + 1] < 90 && d[i + 2] < 90) n++;  // opaque ink only
  }
  return n;
})()"""
BLUE = DARK.replace("d[i] < 90 && d[i + 1] < 90 && d[i + 2] < 90", "d[i] < 100 && d[i + 2] > 150")


async def _long_request(api: Api) -> tuple[int, float]:
    village = await api.login("dr-village")
    patient = await new_patient(village, "长程心电")
    status, body = await upload(village, patient["id"], long_zip(), "100.zip")
    assert status == 201, body
    ecg_id = body["ecg"]["id"]
    # the rhythm episodes as the analysis will carry them (the agreed shape): a VT run
    vt = {
        "kind": "vt",
        "start_s": VT_AT,
        "end_s": VT_AT + 5.0,
        "beats": 12,
        "rate_bpm": 165,
        "label_zh": "室性心动过速",
        "label_en": "Ventricular tachycardia",
        "critical": True,
    }
    async with api.center.sessions() as session, session.begin():
        row = await session.get(EcgRecording, ecg_id)
        assert row is not None
        row.analysis = {**row.analysis, "episodes": [*row.analysis.get("episodes", []), vt]}
    return body["request"]["id"], body["ecg"]["duration_s"]


async def _page_width(page: Any) -> int:
    return int(await page.evaluate("document.documentElement.scrollWidth"))


async def test_thirty_minute_record_paged_in_the_reader(api: Api, browsers: Browsers) -> None:
    request_id, duration = await _long_request(api)
    pages = math.ceil(duration / 60)

    def on_page(n: int) -> str:
        return f"document.getElementById('page-label').textContent.includes('{n} / {pages}')"

    # on a phone: the overview and a page of strips, nothing wider than the screen
    phone = await browsers.login("ecg-reader", width=390, height=844)
    await phone.goto(f"/ecg/{request_id}")
    await phone.wait_for_selector("#ecg-overview:not([hidden])")
    await wait_js(phone, DARK % "ecg-canvas" + " > 500")
    assert await _page_width(phone) <= 390
    box = await phone.locator("#page-next").bounding_box()
    assert box is not None and box["x"] + box["width"] <= 390
    await screenshot(phone, "ecg-long-390")
    await phone.click("#lang")  # the same page in English
    await phone.wait_for_selector("#ecg-overview:not([hidden])")
    await wait_js(phone, on_page(1))
    assert "Overview" in await phone.inner_text("#ecg-overview h2")
    assert "Ventricular tachycardia" in await phone.inner_text("#episodes")
    assert (await phone.inner_text("#page-label")).startswith("Page 1 /")
    await wait_js(phone, DARK % "ecg-canvas" + " > 500")
    assert await _page_width(phone) <= 390
    await phone.context.close()

    reader = await browsers.login("ecg-reader", width=1280, height=900)
    await reader.goto(f"/ecg/{request_id}")
    await reader.wait_for_selector("#ecg-overview:not([hidden])")
    await wait_js(reader, BLUE % "overview-canvas" + " > 200")  # the rate trend is drawn
    await wait_js(reader, DARK % "ecg-canvas" + " > 1000")  # and the first page of strips
    await wait_js(reader, on_page(1))
    width = await reader.evaluate("document.getElementById('ecg-canvas').width")
    assert 500 < width <= 4096
    assert "室性心动过速" in await reader.inner_text("#episodes")
    # the VT run is not yet seen: the sign button waits
    await wait_js(reader, "!!document.querySelector('#unseen li')")
    assert await reader.is_disabled("#sign")
    await reader.click("#page-next")
    await wait_js(reader, on_page(2))
    await wait_js(reader, DARK % "ecg-canvas" + " > 1000")
    assert await reader.is_disabled("#sign")
    # a click on the overview jumps to that time
    ov = await reader.locator("#overview-canvas").bounding_box()
    assert ov is not None
    x = ov["width"] * 0.75
    await reader.mouse.click(ov["x"] + x, ov["y"] + 30)
    at = (x - 34) / (ov["width"] - 38) * duration
    await wait_js(reader, on_page(int(at // 60) + 1))
    await reader.fill("#jump-time", "0:05:30")
    await reader.click("#jump-go")
    await wait_js(reader, on_page(6))
    assert await reader.is_disabled("#sign")
    # the critical episode's page: now the report can be signed
    await reader.click("#episodes li.critical button")
    await wait_js(reader, on_page(int(VT_AT // 60) + 1))
    await wait_js(reader, "!!document.getElementById('viewed-ok')")
    assert not await reader.is_disabled("#sign")
    await screenshot(reader, "ecg-long-1280")
    await reader.fill("#impression", "窦性心律，阵发性室性心动过速")
    await reader.click("#sign")
    await reader.wait_for_selector("#signed-note", timeout=30_000)

    # a tracing that cannot be drawn says so, and the sign button stays disabled
    damaged = await _damaged_request(api)
    await reader.goto(f"/ecg/{damaged}")
    await reader.wait_for_selector("#tracing-error:not([hidden])")
    assert "无法显示" in await reader.inner_text("#tracing-error")
    await reader.wait_for_selector("#sign")
    assert await reader.is_disabled("#sign")


async def _damaged_request(api: Api) -> int:
    village = await api.login("dr-village")
    patient = await new_patient(village, "损坏文件")
    status, body = await upload(village, patient["id"], wfdb_zip(synth(SynthSpec()), "d"), "d.zip")
    assert status == 201, body
    async with api.center.sessions() as session:
        row = await session.get(EcgRecording, body["ecg"]["id"])
        assert row is not None
        app_of(api)[ECG_INGEST].files.path(row.sha256).write_bytes(b"PK damaged")
    return int(body["request"]["id"])
