"""Printed reports: the PDF read back, its QR code, the public verification page."""

from __future__ import annotations

import io
import re

import pypdf
import segno

from consult.models import Report
from consult.printing import qr_matrix
from tests.conftest import Api
from tests.core.helpers import new_patient, new_request, resident_id


async def test_printed_report_and_verification(api: Api) -> None:
    village = await api.login("dr-village")
    reader = await api.login("ecg-reader")
    other = await api.login("dr-township")
    rid = resident_id("19800101", 135)
    patient = await new_patient(village, "钱七", resident_id=rid, phone="13800000000")
    request = await new_request(village, patient["id"], "ecg_read")
    (await reader.post(f"/api/v1/requests/{request['id']}/accept")).ok()
    draft = (
        await reader.post(
            f"/api/v1/requests/{request['id']}/reports",
            {"findings": "窦性心律, V2-V4 ST段抬高", "impression": "急性前壁心肌梗死"},
        )
    ).ok()
    assert (await reader.get(f"/api/v1/reports/{draft['id']}/pdf")).status == 409
    signed = (await reader.post(f"/api/v1/reports/{draft['id']}/sign")).ok()

    pdf = await village.get(f"/api/v1/reports/{signed['id']}/pdf")
    assert pdf.status == 200 and pdf.body[:5] == b"%PDF-"
    text = "".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(pdf.body)).pages)
    assert "示范县人民医院" in text and "陈医生" in text and "急性前壁心肌梗死" in text
    assert "钱七" in text and "第 1 版" in text
    assert (await other.get(f"/api/v1/reports/{signed['id']}/pdf")).status == 404

    # the QR code printed encodes the verification URL of this version's random token
    url = re.search(r"http://[^/\s]+/verify/[A-Za-z0-9_-]{32}", text)
    assert url is not None
    token = url.group(0).rsplit("/", 1)[1]
    async with api.center.work() as work:
        stored = await work.session.get(Report, signed["id"])
        assert stored is not None and stored.verify_token == token
    assert qr_matrix(url.group(0)) == tuple(
        tuple(bool(m) for m in row) for row in segno.make(url.group(0), error="m").matrix
    )

    page = await api.anonymous("GET", f"/verify/{token}")
    html = page.body.decode()
    assert page.status == 200 and "已签发" in html and "陈医生" in html
    assert signed["content_hash"] in html and "钱*" in html
    for secret in ("钱七", rid, "13800000000", "1980-01-01", request["identifier"]):
        assert secret not in html
    assert "已被取代" not in html

    (
        await reader.post(
            f"/api/v1/reports/{signed['id']}/amend",
            {"reason": "导联标注更正", "findings": "V1-V4 ST段抬高", "impression": "急性前壁心梗"},
        )
    ).ok()
    old = (await api.anonymous("GET", f"/verify/{token}")).body.decode()
    assert "已被取代" in old and "superseded by v2" in old
    assert (await api.anonymous("GET", "/verify/" + "A" * 32)).status == 404
    assert (await api.anonymous("GET", "/verify/x'--")).status == 404
