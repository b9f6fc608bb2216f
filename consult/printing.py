"""Printed reports: one signed report version as a PDF for the patient, with a QR code to verify.

Chinese text uses reportlab's built-in CID font STSong-Light (no system font needed at run time);
the QR code is drawn as vector squares from segno's matrix. :func:`render_pdf` is a pure function
of plain data, so it runs in the worker pool.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from xml.sax.saxutils import escape

import segno
from reportlab.graphics.shapes import Drawing, Rect
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

FONT = "STSong-Light"
QR_SIZE = 32 * mm


@dataclass(frozen=True)
class PrintedReport:
    """Everything the sheet shows, as text."""

    institution: str
    title: str
    patient: tuple[tuple[str, str], ...]
    findings: str
    impression: str
    impression_label: str
    signer: str
    signed_at: str
    version: int
    amendment: str
    content_hash: str
    verify_url: str


def qr_matrix(payload: str) -> tuple[tuple[bool, ...], ...]:
    """The QR code of ``payload`` as rows of dark (True) modules."""
    code = segno.make(payload, error="m", micro=False)
    return tuple(tuple(bool(m) for m in row) for row in code.matrix)


def _qr_drawing(payload: str, size: float) -> Drawing:
    rows = qr_matrix(payload)
    quiet = 4
    n = len(rows) + 2 * quiet
    cell = size / n
    drawing = Drawing(size, size)
    for y, row in enumerate(rows):
        for x, dark in enumerate(row):
            if dark:
                top = size - (y + quiet + 1) * cell
                drawing.add(
                    Rect((x + quiet) * cell, top, cell, cell, fillColor="black", strokeWidth=0)
                )
    return drawing


def _styles() -> dict[str, ParagraphStyle]:
    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))
    base = ParagraphStyle("body", fontName=FONT, fontSize=10.5, leading=16, wordWrap="CJK")
    return {
        "body": base,
        "title": ParagraphStyle("title", parent=base, fontSize=18, leading=24, alignment=1),
        "sub": ParagraphStyle("sub", parent=base, fontSize=12, leading=18, alignment=1),
        "head": ParagraphStyle("head", parent=base, fontSize=12, leading=20, spaceBefore=6),
        "small": ParagraphStyle("small", parent=base, fontSize=8, leading=11),
    }


def _text(value: str) -> str:
    return escape(value or "—").replace("\n", "<br/>")


def _patient_table(doc: PrintedReport, style: ParagraphStyle) -> Table:
    cells = [Paragraph(_text(f"{label}：{value}"), style) for label, value in doc.patient]
    rows = [cells[i : i + 3] + [""] * (3 - len(cells[i : i + 3])) for i in range(0, len(cells), 3)]
    table = Table(rows, colWidths=[60 * mm] * 3)
    table.setStyle(TableStyle([("LINEBELOW", (0, -1), (-1, -1), 0.5, "black")]))
    return table


def _footer(doc: PrintedReport, styles: dict[str, ParagraphStyle]) -> Table:
    lines = [
        f"签发医师：{doc.signer}",
        f"签发时间：{doc.signed_at}",
        f"版本：第 {doc.version} 版" + ("（更正版）" if doc.amendment else ""),
        "扫码核验报告真伪 / scan to verify",
        f"内容摘要 SHA-256：{doc.content_hash[:32]}",
        doc.content_hash[32:],
        doc.verify_url,
    ]
    left = [Paragraph(_text(line), styles["body"]) for line in lines[:3]]
    left += [Paragraph(_text(line), styles["small"]) for line in lines[3:]]
    table = Table([[left, _qr_drawing(doc.verify_url, QR_SIZE)]], colWidths=[140 * mm, 40 * mm])
    table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP")]))
    return table


def render_pdf(doc: PrintedReport) -> bytes:
    """The report sheet as PDF bytes (A4, one or more pages)."""
    styles = _styles()
    story = [
        Paragraph(_text(doc.institution), styles["title"]),
        Paragraph(_text(doc.title), styles["sub"]),
        Spacer(1, 4 * mm),
        _patient_table(doc, styles["body"]),
        Paragraph("检查所见", styles["head"]),
        Paragraph(_text(doc.findings), styles["body"]),
        Paragraph(_text(doc.impression_label), styles["head"]),
        Paragraph(_text(doc.impression), styles["body"]),
    ]
    if doc.amendment:
        story.append(Paragraph(_text(f"更正说明：{doc.amendment}"), styles["head"]))
    story += [Spacer(1, 8 * mm), _footer(doc, styles)]
    out = io.BytesIO()
    SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=15 * mm,
        bottomMargin=15 * mm,
        title=doc.title,
        author=doc.institution,
    ).build(story)
    return out.getvalue()
