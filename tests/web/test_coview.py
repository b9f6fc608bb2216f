"""Co-viewing in the consult room: the internist opens the patient's ECG in the room, the village
doctor's browser draws the same tracing and follows the internist's pointer, zoom and layout."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api
from tests.core.helpers import new_patient
from tests.ecg_center.files import normal_zip
from tests.ecg_center.test_ecg_api import upload
from tests.web.conftest import Browsers, screenshot, sqlite_only, wait_js
from tests.web.test_room import room_route_present

pytestmark = pytest.mark.browser
database = pytest.fixture(sqlite_only, name="database")  # the tour runs on SQLite only

# Dark (trace-coloured) pixels on the co-view canvas: the tracing itself, not just the paper.
INK = """() => {
    const c = document.querySelector('#coview-ecg-canvas');
    if (!c || !c.width || !c.height) return 0;
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let ink = 0;
    for (let i = 0; i < d.length; i += 4) {
        if (d[i + 3] > 200 && d[i] < 80 && d[i + 1] < 80 && d[i + 2] < 80) ink++;  // opaque ink only
    }
    return ink;
}"""


async def coview(page: Any) -> dict[str, Any]:
    return dict(await page.evaluate("() => JSON.parse(JSON.stringify(window.__room.coview))"))


async def join(browsers: Browsers, username: str, request_id: int, role: str) -> Any:
    page = await browsers.login(username)
    await page.goto(f"/room/{request_id}")
    await page.click("#join")
    await wait_js(page, f"window.__room && window.__room.role === '{role}'")
    return page


async def test_internist_shows_the_patients_ecg_to_the_village_doctor(
    api: Api, media_browsers: Browsers
) -> None:
    if not room_route_present(api):
        pytest.skip("the consult room WebSocket route (/api/v1/rooms/{id}/ws) is not wired yet")
    village = await api.login("dr-village")
    internist = await api.login("internist")
    patient = await new_patient(village, "共阅患者")
    status, body = await upload(
        village, patient["id"], normal_zip(), "normal.zip", clinical_question="心悸"
    )
    assert status == 201, body
    ecg_id = body["ecg"]["id"]
    consult = (
        await village.post(
            "/api/v1/requests",
            {
                "patient_id": patient["id"],
                "kind": "video_consult",
                "priority": "urgent",
                "clinical_question": "心悸，请心内科会诊并一起看心电图",
            },
        )
    ).ok()
    (await internist.post(f"/api/v1/requests/{consult['id']}/accept")).ok()

    host = await join(media_browsers, "dr-village", consult["id"], "host")
    member = await join(media_browsers, "internist", consult["id"], "member")
    await wait_js(host, "document.querySelectorAll('#tiles .tile').length >= 2", timeout=30)

    # the internist picks the ECG from the patient's other requests
    button = member.locator(f"#coview-list button[data-resource='ecg/{ecg_id}']")
    await button.wait_for(timeout=20_000)
    await button.click()
    await wait_js(member, "window.__room.coview.drawn")

    # the village doctor's page opens the same tracing and draws it
    await wait_js(host, f"window.__room.coview.resource === 'ecg/{ecg_id}'")
    await wait_js(host, "window.__room.coview.drawn")
    assert await host.get_attribute("#coview", "data-resource") == f"ecg/{ecg_id}"
    assert f"ECG #{ecg_id}" in await host.inner_text("#coview-title")
    assert await host.is_visible("#coview-ecg-canvas")
    assert await host.evaluate(INK) > 2000, "the co-view canvas shows no tracing"
    assert (await coview(host))["zoom"] == (await coview(member))["zoom"]

    # the pointer follows, in fractions of the tracing
    box = await member.locator("#coview-ecg-canvas").bounding_box()
    assert box is not None
    await member.mouse.move(box["x"] + box["width"] * 0.2, box["y"] + box["height"] * 0.3)
    await member.mouse.move(box["x"] + box["width"] * 0.4, box["y"] + box["height"] * 0.25, steps=5)
    await wait_js(member, "window.__room.coview.pointer")
    sent = (await coview(member))["pointer"]
    await wait_js(
        host,
        f"(p => p && Math.abs(p[0] - {sent[0]}) < 0.01 && Math.abs(p[1] - {sent[1]}) < 0.01)"
        "(window.__room.coview.pointer)",
    )
    assert await host.is_visible("#coview-ecg .pointer")
    await screenshot(host, "coview-ecg-village-pointer")

    # zoom and layout follow
    await member.click("#coview-ecg button[data-zoom='2']")
    await wait_js(host, "window.__room.coview.zoom === 2")
    assert await host.get_attribute("#coview", "data-zoom") == "2"
    await member.click("#coview-ecg-12")
    await wait_js(host, "window.__room.coview.layout === '12x1'")
    assert await host.evaluate(INK) > 2000
    assert await host.evaluate("document.documentElement.scrollWidth <= innerWidth")  # box scrolls

    # so does the scroll position inside the zoomed tracing
    await member.evaluate(
        "document.querySelector('#coview-ecg .paper-scroll').scrollTo({left: 600, top: 400})"
    )
    await wait_js(
        member, "window.__room.coview.scroll[0] > 0 && window.__room.coview.scroll[1] > 0"
    )
    sent = (await coview(member))["scroll"]
    await wait_js(
        host,
        f"(s => Math.abs(s[0] - {sent[0]}) < 0.02 && Math.abs(s[1] - {sent[1]}) < 0.02)"
        "(window.__room.coview.scroll)",
    )
    await screenshot(member, "coview-ecg-internist")
    await screenshot(host, "coview-ecg-village")

    # the village doctor zooms back; the internist follows (co-viewing goes both ways)
    await host.click("#coview-ecg button[data-zoom='1']")
    await wait_js(member, "window.__room.coview.zoom === 1")
