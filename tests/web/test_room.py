"""Two Chromiums with fake cameras and microphones join one consult room through the page; each
decodes the other's video (frames counted by the browser, not just elements on the page)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api
from tests.web.conftest import Browsers, app_of, screenshot, sqlite_only, wait_js

pytestmark = pytest.mark.browser
database = pytest.fixture(sqlite_only, name="database")  # the tour runs on SQLite only


def room_route_present(api: Api) -> bool:
    for route in app_of(api).router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        if "/api/v1/rooms/" in str(info.get("formatter", "")) and str(
            info.get("formatter", "")
        ).endswith("/ws"):
            return True
    return False


async def remote_frames(page: Any) -> int:
    return int(
        await page.evaluate("""() => {
        let best = 0;
        for (const v of document.querySelectorAll('#tiles .tile:not([data-participant=me]) video')) {
            const q = v.getVideoPlaybackQuality ? v.getVideoPlaybackQuality().totalVideoFrames : 0;
            best = Math.max(best, q, v.videoWidth > 0 ? 1 : 0);
        }
        return best;
    }""")
    )


async def test_two_browsers_see_each_other(api: Api, media_browsers: Browsers) -> None:
    if not room_route_present(api):
        pytest.skip("the consult room WebSocket route (/api/v1/rooms/{id}/ws) is not wired yet")
    village = await api.login("dr-village")
    patient = (await village.get("/api/v1/patients")).ok()[0]
    request = (
        await village.post(
            "/api/v1/requests",
            {
                "patient_id": patient["id"],
                "kind": "video_consult",
                "priority": "urgent",
                "clinical_question": "胸闷，请心内科会诊",
            },
        )
    ).ok()

    host = await media_browsers.login("dr-village")
    await host.goto(f"/room/{request['id']}")
    await host.wait_for_selector("#join")
    await wait_js(host, "document.querySelector('#preview').videoWidth > 0")  # camera check
    await screenshot(host, "room-device-check")
    await host.click("#join")
    await wait_js(host, "window.__room && window.__room.role === 'host'")

    member = await media_browsers.login("internist")
    await member.goto(f"/room/{request['id']}")
    await member.wait_for_selector("#join")
    await member.click("#join")
    await wait_js(member, "window.__room && window.__room.role === 'member'")

    await wait_js(host, "document.querySelectorAll('#tiles .tile').length >= 2", timeout=30)
    await wait_js(member, "document.querySelectorAll('#tiles .tile').length >= 2", timeout=30)
    for page in (host, member):
        for _ in range(150):
            if await remote_frames(page) > 5:
                break
            await page.wait_for_timeout(200)
        assert await remote_frames(page) > 5, "no decoded video from the other participant"

    await member.fill("#chat-form input", "心电图已看，请转诊")
    await member.press("#chat-form input", "Enter")
    await host.wait_for_selector("#chat-log >> text=请转诊")
    await host.wait_for_selector("#roster li >> text=会诊专家")  # the specialist, in Chinese
    await screenshot(host, "room-two-participants")
    await member.click("#mute")
    await host.wait_for_selector("#roster li .chip.muted")
    await member.click("#leave")
    await wait_js(member, "window.__room.ended === true")

    # the host invites the patient, who waits in the lobby until admitted
    host.once("dialog", lambda dialog: dialog.accept("患者张三"))
    await host.click("#invite")
    link = await host.input_value("#invitation input")
    assert f"/room/{request['id']}?guest=" in link
    guest = await media_browsers.page()
    await guest.goto(link)
    await guest.wait_for_selector("#join")
    assert "guest=" not in guest.url  # the token leaves the address bar
    await guest.click("#join")
    await wait_js(guest, "document.querySelector('#room-status').classList.contains('warn')")
    await screenshot(guest, "room-lobby")
    admit = host.locator("#roster li button", has_text="准入")
    await admit.click()
    await wait_js(guest, "window.__room && window.__room.role === 'guest'")
    for _ in range(150):
        if await remote_frames(guest) > 5:
            break
        await guest.wait_for_timeout(200)
    assert await remote_frames(guest) > 5, "the admitted guest sees no video"
