"""The language check: every page of every role, in zh-CN and in English, after demo activity of
every kind; a raw code, an ISO time or an English word on a Chinese page fails, and so does Chinese
where an English label is expected. The clinic's pages also at 390 px (a phone): nothing scrolls
sideways and every button lies inside the screen's width. And the session: a new tab of the same
browser stays signed in, a reload too, and signing out ends it for every tab."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import aiohttp
import pytest

from tests.conftest import Api, ApiUser
from tests.ecg_center.files import stemi_zip
from tests.web.conftest import Browsers, screenshot, sqlite_only, wait_js
from tests.web.test_screens import _imaging_request

pytestmark = pytest.mark.browser
database = pytest.fixture(sqlite_only, name="database")  # pages do not depend on the backend

USERS = {
    "dr-village": "village_doctor",
    "dr-township": "township_doctor",
    "ecg-reader": "ecg_specialist",
    "radiologist": "imaging_specialist",
    "internist": "consult_specialist",
    "lab-tech": "lab_technician",
    "lab-supervisor": "lab_supervisor",
    "referral-desk": "referral_desk",
    "duty-desk": "duty_desk",
    "cardio-desk": "department_desk",
    "admin": "admin",
    "auditor": "auditor",
    "supervisor": "supervisor",  # -- statistics --
}
# Latin words a Chinese page may show: units, standard abbreviations, DICOM terms.
ALLOWED_LATIN = {
    "ECG",
    "QRS",
    "QT",
    "QTc",
    "PR",
    "HR",
    "RR",
    "mV",
    "ms",
    "mm",
    "bpm",
    "min",
    "DICOM",
    "CT",
    "MR",
    "ID",
    "AE",
    "LOINC",
    "STORE",
    "FIND",
    "MOVE",
    "GET",
    "ECHO",
    "REC",
    "PDF",
    "SVG",
    "mmol",
    "umol",
    "µmol",
    "fL",
    "pg",
    "IU",
    "mg",
    "dL",
    "mL",
    "kg",
    "cm",
    "Hz",
    "mAs",
    "kV",
    "HbA",
    "HbA1c",
    "Hb",
    "WBC",
    "RBC",
    "PLT",
    "HCT",
    "MCV",
    "MCH",
    "MCHC",
    "ALT",
    "AST",
    "TnI",
    "cTnI",
    "BNP",
    "CRP",
    "INR",
    "PT",
    "APTT",
    "CK",
    "MB",
    "LDL",
    "HDL",
    "TG",
    "TC",
    "BUN",
    "Cr",
    "eGFR",
    "Na",
    "Cl",
    "Ca",
    "Mg",
    "Glu",
    "PCI",
    "ST",
    "STEMI",
    "AV",
    "SR",
    "WL",
    "English",
    "CSV",
    "EDTA",
    "OT",
    "US",
    "DX",
    "CR",
    "XA",
    "SC",
    "HL7",
    "MLLP",
    "TURN",
    "STUN",
}
SNAKE = re.compile(r"\b[a-z]+(?:_[a-z0-9]+)+\b")
ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}|\d{2}:\d{2}:\d{2}\.\d{3,}")
LATIN = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-'][A-Za-z0-9]+)*")
CJK = re.compile(r"[\u3400-\u9fff]")

# What a person sees: text of rendered elements (not inside <code>, not inside an element that
# declares another language, e.g. an institution's English name), option labels of visible
# selects, placeholders; and the labels (buttons, headers, chips, menu, legends) separately.
VISIBLE_TEXT = """() => {
  const skip = (el) => el.closest('code, script, style, [lang]:not(html), [data-raw]');
  const seen = (el) => el.checkVisibility ? el.checkVisibility() : el.offsetParent !== null;
  const texts = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    const s = n.textContent.trim();
    if (!s || !el || skip(el)) continue;
    if (el.tagName === 'OPTION') {  // a datalist's options are suggestions, not shown text
      const list = el.closest('select');
      if (list && seen(list)) texts.push(s);
      continue;
    }
    if (seen(el)) texts.push(s);
  }
  for (const el of document.querySelectorAll('[placeholder], [title]')) {
    if (!skip(el) && seen(el)) texts.push(el.getAttribute('placeholder') || el.getAttribute('title'));
  }
  const labels = [...document.querySelectorAll(
      'button, th, legend, summary, .chip, nav a, label.field > span, a.button, h2, h3')]
    .filter((el) => !skip(el) && seen(el)).map((el) => el.textContent.trim()).filter(Boolean);
  return { texts, labels, title: document.title };
}"""

PHONE_CHECK = """() => {
  const w = window.innerWidth;
  const wide = document.scrollingElement.scrollWidth;
  const outside = [...document.querySelectorAll('button, a.button, input[type=submit]')]
    .filter((b) => b.checkVisibility() && !b.closest('dialog'))
    .map((b) => [b, b.getBoundingClientRect()])
    .filter(([b, r]) => r.width > 0 && (r.left < -1 || r.right > w + 1))
    .map(([b, r]) => (b.id || b.textContent.trim()).slice(0, 30) + '@' + Math.round(r.left) + '..' + Math.round(r.right));
  return { w, wide, outside };
}"""


async def demo_activity(api: Api) -> dict[str, Any]:
    """A request of each kind, a signed report, a referral, a lab order with a collected
    specimen: what the pages list and show."""
    village = await api.login("dr-village")
    reader = await api.login("ecg-reader")
    patient = (await village.get("/api/v1/patients")).ok()[0]
    form = aiohttp.FormData()
    form.add_field("patient_id", str(patient["id"]))
    form.add_field("clinical_question", "胸痛1小时")
    form.add_field("priority", "stat")
    form.add_field("file", stemi_zip(), filename="stemi.zip")
    async with api.client.post("/api/v1/ecgs", data=form, headers=village.headers) as r:
        assert r.status == 201, await r.text()
        uploaded = await r.json()
        ecg_request = uploaded["request"]
    (await reader.post(f"/api/v1/requests/{ecg_request['id']}/accept")).ok()
    (await reader.get(f"/api/v1/ecgs/{uploaded['ecg']['id']}/samples")).ok()  # seen, then signed
    draft = (
        await reader.post(
            f"/api/v1/requests/{ecg_request['id']}/reports",
            {"findings": "窦性心律，V2-V4导联ST段抬高", "impression": "急性前壁心肌梗死"},
        )
    ).ok()
    report = (await reader.post(f"/api/v1/reports/{draft['id']}/sign")).ok()
    referral = await village.post(
        "/api/v1/referrals",
        {
            "report_id": report["id"],
            "department": "cardiology",
            "reason": "急性心梗",
            "urgency": "stat",
        },
    )
    assert referral.status in (200, 201), referral.body
    consult = await new_request(village, patient["id"], "video_consult")
    order = (
        await village.post(
            "/api/v1/lab/orders",
            {"patient_id": patient["id"], "tests": ["58410-2", "51990-0"], "priority": "urgent"},
        )
    ).ok()
    first = order["specimens"][0]["id"]
    (await village.post(f"/api/v1/lab/specimens/{first}/collect", {"collected_by": "刘医生"})).ok()
    imaging = await _imaging_request(api)
    return {
        "ecg": ecg_request["id"],
        "imaging": imaging["id"],
        "consult": consult["id"],
        "lab": order["request_identifier"],
        "order": order["id"],
        "report": report["id"],
    }


async def new_request(user: ApiUser, patient_id: int, kind: str) -> dict[str, Any]:
    body = {
        "patient_id": patient_id,
        "kind": kind,
        "priority": "urgent",
        "clinical_question": "头晕",
    }
    return (await user.post("/api/v1/requests", body)).ok()  # type: ignore[no-any-return]


def pages_for(role: str, ids: dict[str, Any], menu: list[str]) -> list[str]:
    extra: list[str] = []
    if role in ("village_doctor", "township_doctor"):
        extra = [f"/lab?request={ids['lab']}"]
        if role == "village_doctor":
            extra += [f"/ecg/{ids['ecg']}", f"/room/{ids['consult']}"]
        else:
            extra.append(f"/imaging/{ids['imaging']}")
    elif role == "ecg_specialist":
        extra = [f"/ecg/{ids['ecg']}"]
    elif role == "imaging_specialist":
        extra = [f"/imaging/{ids['imaging']}"]
    elif role == "consult_specialist":
        extra = [f"/room/{ids['consult']}", f"/consult/{ids['consult']}"]
    elif role.startswith("lab_"):
        extra = [f"/lab?order={ids['order']}"]
    if role in ("village_doctor", "ecg_specialist"):
        extra.append(f"/report/{ids['report']}/print")
    return list(dict.fromkeys(menu + extra))


def problems_zh(seen: dict[str, Any], allowed: set[str]) -> list[str]:
    bad = []
    for text in [seen["title"], *seen["texts"]]:
        for m in SNAKE.findall(text):
            bad.append(f"raw code {m!r} in {text[:60]!r}")
        for m in ISO_TIME.findall(text):
            bad.append(f"ISO time {m!r} in {text[:60]!r}")
        for word in LATIN.findall(text):
            if word in allowed or len(word) == 1 or any(c.isdigit() for c in word):
                continue  # identifiers (E261202000002, V2-V4, DEMO-0001) are data
            bad.append(f"English {word!r} in {text[:60]!r}")
    return bad


def problems_en(seen: dict[str, Any], names: set[str]) -> list[str]:
    labels = [x for x in seen["labels"] if not any(n in x for n in names)]  # a patient's name
    bad = [f"Chinese label {x[:40]!r}" for x in labels if CJK.search(x)]
    for text in seen["texts"]:
        bad += [f"raw code {m!r} in {text[:60]!r}" for m in SNAKE.findall(text)]
        bad += [f"ISO time {m!r} in {text[:60]!r}" for m in ISO_TIME.findall(text)]
    return bad


QUIET = 0.15
"""Seconds with no request in flight after which a page counts as drawn: its second round of
requests (lists, reports) starts as soon as the first is answered, well within this."""


def track_requests(page: Any) -> None:
    """Count the page's requests in flight (``page.inflight``), for :func:`settle`."""
    page.inflight = 0

    def started(_request: Any) -> None:
        page.inflight += 1

    def ended(_request: Any) -> None:
        page.inflight -= 1

    page.on("request", started)
    page.on("requestfinished", ended)
    page.on("requestfailed", ended)


async def settle(page: Any, timeout: float = 30.0) -> None:
    """Wait until the page is drawn: loaded, no loading marker, no request in flight for a while."""
    await page.wait_for_load_state("load")
    await wait_js(page, "!document.querySelector('#main .loading')")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    quiet_since = loop.time()
    while loop.time() - quiet_since < QUIET:
        if page.inflight > 0:
            quiet_since = loop.time()
        if loop.time() > deadline:
            raise AssertionError(f"{page.url} kept {page.inflight} requests in flight")
        await asyncio.sleep(0.02)


async def data_words(api: Api) -> set[str]:
    """Words that are data, not labels: usernames, identifiers, Latin names the demo holds."""
    admin = await api.login("admin")
    words: set[str] = set()
    for u in (await admin.get("/api/v1/users")).ok():
        words.update(LATIN.findall(u["username"] + " " + u["display_name"]))
    for i in (await admin.get("/api/v1/institutions")).ok():
        words.update(LATIN.findall(i["code"]))
        for d in i.get("departments", []):
            words.update(LATIN.findall(d["code"]))
    for d in (await admin.get("/api/v1/imaging/devices")).ok():
        words.update(LATIN.findall(d["ae_title"] + " " + d.get("host", "")))
    return words


async def patient_names(api: Api) -> set[str]:
    names: set[str] = set()
    for username in ("dr-village", "dr-township"):
        user = await api.login(username)
        names.update(
            p["name"] for p in (await user.get("/api/v1/patients", params={"limit": 200})).ok()
        )
    return names


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
async def test_every_page_of_every_role(api: Api, media_browsers: Browsers, lang: str) -> None:
    ids = await demo_activity(api)
    allowed = ALLOWED_LATIN | await data_words(api)
    names = await patient_names(api)
    found: dict[str, list[str]] = {}
    gate = asyncio.Semaphore(2)  # much of a tour is waiting for the page: two at a time

    async def tour(username: str, role: str) -> None:
        async with gate:
            page = await media_browsers.page(lang=lang)
            track_requests(page)
            await page.context.add_init_script(f"localStorage.setItem('tc.lang', '{lang}')")
            await sign_in(page, username)
            menu = await page.eval_on_selector_all(
                "#top nav a", "els => els.map((a) => a.getAttribute('href'))"
            )
            assert menu, f"{username} has no menu"
            for path in pages_for(role, ids, menu):
                await page.goto(path)
                await settle(page)
                assert "/login" not in page.url, f"{username} lost the session on {path}"
                seen = await page.evaluate(VISIBLE_TEXT)
                bad = problems_zh(seen, allowed) if lang == "zh-CN" else problems_en(seen, names)
                if bad:
                    found[f"{lang} {username} {path}"] = sorted(set(bad))[:8]
            await page.context.close()

    await asyncio.gather(*(tour(u, r) for u, r in USERS.items()))
    assert not found, "\n".join(f"{k}: {v}" for k, v in found.items())


async def test_the_village_doctors_phone(api: Api, media_browsers: Browsers) -> None:
    ids = await demo_activity(api)
    phone = await media_browsers.page(width=390, height=844)
    track_requests(phone)
    await sign_in(phone, "dr-village")
    wide: dict[str, Any] = {}
    for path in [
        "/clinic",
        "/lab",
        f"/lab?request={ids['lab']}",
        "/referrals",
        f"/ecg/{ids['ecg']}",
        f"/room/{ids['consult']}",
    ]:
        await phone.goto(path)
        await settle(phone)
        got = await phone.evaluate(PHONE_CHECK)
        if got["wide"] > got["w"] or got["outside"]:
            wide[path] = got
        await screenshot(phone, "phone" + path.replace("/", "-").replace("?", "-"))
    # in the room: join, then the chat's send button must be on the screen
    await phone.goto(f"/room/{ids['consult']}")
    await phone.click("#join")
    await wait_js(phone, "window.__room && window.__room.me")
    send = phone.locator("#chat-form button[type=submit]")
    await send.scroll_into_view_if_needed()
    box = await send.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, box
    await phone.fill("#chat-form input", "血压 150/90")
    await send.click()
    await phone.wait_for_selector("#chat-log >> text=血压 150/90")
    got = await phone.evaluate(PHONE_CHECK)
    if got["wide"] > got["w"] or got["outside"]:
        wide["/room (joined)"] = got
    await screenshot(phone, "phone-room-joined")
    assert not wide, wide


async def language_problems(
    page: Any, api: Api, lang: str, names: frozenset[str] | set[str] = frozenset()
) -> list[str]:
    """What on the page breaks its language: English words or raw codes in a zh-CN page, Chinese
    labels in an English one (patients' names and ``names`` are data, not labels)."""
    seen = await page.evaluate(VISIBLE_TEXT)
    if lang == "zh-CN":
        return problems_zh(seen, ALLOWED_LATIN | await data_words(api))
    return problems_en(seen, await patient_names(api) | set(names))


async def sign_in(page: Any, username: str) -> None:
    await page.goto("/login")
    await page.fill("#username", username)
    await page.fill("#password", "demo-password")
    await page.click("#login-submit")
    await page.wait_for_url(lambda url: "/login" not in url, timeout=60_000, wait_until="commit")
    await page.wait_for_selector("#who .inst", timeout=60_000)


async def test_session_survives_a_new_tab_and_a_reload(api: Api, browsers: Browsers) -> None:
    ids = await demo_activity(api)
    page = await browsers.login("dr-village")
    assert await page.evaluate("sessionStorage.length") == 0
    assert "tc_session" not in await page.evaluate("document.cookie")  # HttpOnly
    tab = await page.context.new_page()
    await tab.goto(f"/ecg/{ids['ecg']}")
    await tab.wait_for_selector("#ecg-head h1")
    assert "/login" not in tab.url
    await tab.wait_for_selector("#statements")
    await tab.reload()
    await tab.wait_for_selector("#ecg-head h1")
    # the clinic opens its ECG, its lab results and the report from its own pages
    await page.goto("/clinic")
    await page.locator(f"#requests a.open-ecg[href='/ecg/{ids['ecg']}']").wait_for()
    await page.locator("#requests a.open-results").first.wait_for()
    await page.click("#requests a.open-results >> nth=0")
    await page.wait_for_selector("#lab-order h2")
    assert await page.locator("#top nav a[href='/lab']").count() == 1
    # a new tab's POST carries the CSRF token from the readable cookie
    await tab.goto("/clinic")
    await tab.wait_for_selector("#inbox table")
    await tab.locator("#inbox button.mark-read").first.click()
    await wait_js(tab, "!!document.querySelector('#inbox tr:not(.unread)[data-report]')")
    # sign out in one tab: the other is signed out too
    await page.click("#signout")
    await page.wait_for_url("**/login")
    await tab.goto("/clinic")
    await tab.wait_for_url("**/login**")
    cookies = {c["name"] for c in await page.context.cookies()}
    assert "tc_session" not in cookies
