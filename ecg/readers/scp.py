"""SCP-ECG (EN 1064 / ISO 11073-91064): uncompressed or Huffman-coded rhythm data."""

from __future__ import annotations

import binascii
import logging

import numpy as np
import numpy.typing as npt

from ecg.errors import EcgFormatError
from ecg.readers import huffman
from ecg.readers._common import ByteView, build_record
from ecg.readers.limits import NO_LIMITS, ReadLimits
from ecg.record import DeviceInfo, EcgRecord, MachineMeasurements, PatientInfo

logger = logging.getLogger(__name__)

_LEAD_IDS = {
    1: "I", 2: "II", 3: "V1", 4: "V2", 5: "V3", 6: "V4", 7: "V5", 8: "V6",
    9: "V7", 10: "V2R", 11: "V3R", 12: "V4R", 13: "V5R", 14: "V6R", 15: "V7R",
    16: "X", 17: "Y", 18: "Z", 61: "III", 62: "aVR", 63: "aVL", 64: "aVF",
}  # fmt: skip
_UNDEFINED = 29999
_DEFAULT_TABLE = 19999


def _sections(view: ByteView) -> dict[int, tuple[int, int]]:
    """Map section id -> (offset of its data after the 16-byte header, data length)."""
    total = view.u32(2, "record length")
    if total != len(view.data):
        raise EcgFormatError(
            f"SCP-ECG: record length field says {total} bytes, file has {len(view.data)}"
        )
    if view.u16(0, "record CRC") != binascii.crc_hqx(view.data[2:], 0xFFFF):
        raise EcgFormatError("SCP-ECG: record CRC mismatch (file corrupted)")
    if view.u16(8, "section 0 id") != 0:
        raise EcgFormatError("SCP-ECG: section 0 (pointers) not found at offset 6")
    length0 = view.u32(10, "section 0 length")
    view.need(6, length0, "section 0")
    sections: dict[int, tuple[int, int]] = {}
    for pos in range(6 + 16, 6 + length0 - 9, 10):
        sid, length, index = view.u16(pos, "pointer"), view.u32(pos + 2, "pointer"), 0
        index = view.u32(pos + 6, "pointer")
        if length == 0 or index == 0:
            continue
        start = index - 1
        view.need(start, length, f"section {sid}")
        if length < 16 or view.u16(start + 2, f"section {sid} id") != sid:
            raise EcgFormatError(f"SCP-ECG: section {sid} header does not match its pointer")
        if view.u16(start, "section CRC") != binascii.crc_hqx(
            view.data[start + 2 : start + length], 0xFFFF
        ):
            raise EcgFormatError(f"SCP-ECG: section {sid} CRC mismatch")
        sections[sid] = (start + 16, length - 16)
    return sections


def _patient(view: ByteView, offset: int, length: int) -> tuple[PatientInfo, DeviceInfo]:
    tags: dict[int, bytes] = {}
    pos, end = offset, offset + length
    while pos + 3 <= end:
        tag, size = view.u8(pos, "section 1 tag"), view.u16(pos + 1, "section 1 tag length")
        if tag == 255:
            break
        tags.setdefault(tag, view.bytes_at(pos + 3, size, f"section 1 tag {tag}"))
        pos += 3 + size

    def text(tag: int) -> str | None:
        raw = tags.get(tag)
        value = raw.split(b"\0")[0].decode("latin-1").strip() if raw else ""
        return value or None

    sex = {1: "M", 2: "F"}.get(tags[8][0]) if tags.get(8) else None
    age: int | None = None
    if (raw_age := tags.get(4)) and len(raw_age) >= 3 and raw_age[2] == 1:
        age = int.from_bytes(raw_age[:2], "little")
    birth = None
    if (dob := tags.get(5)) and len(dob) >= 4 and int.from_bytes(dob[:2], "little") > 0:
        birth = f"{int.from_bytes(dob[:2], 'little'):04d}-{dob[2]:02d}-{dob[3]:02d}"
    name = " ".join(n for n in (text(1), text(0)) if n) or None
    model = None
    if (dev := tags.get(14)) and len(dev) >= 14:
        model = dev[8:14].split(b"\0")[0].decode("latin-1").strip() or None
    patient = PatientInfo(
        patient_id=text(2), name=name, sex=sex, age=age if age and age <= 150 else None,
        birth_date=birth,
    )  # fmt: skip
    return patient, DeviceInfo(model=model)


def _huffman_table(
    view: ByteView, sections: dict[int, tuple[int, int]]
) -> tuple[huffman.HuffmanCode, ...] | None:
    if 2 not in sections:
        return None
    offset, _ = sections[2]
    n_tables = view.u16(offset, "Huffman table count")
    if n_tables == _DEFAULT_TABLE:
        return huffman.default_table()
    if n_tables != 1:
        raise EcgFormatError(f"SCP-ECG: {n_tables} Huffman tables (table switching unsupported)")
    n_codes = view.u16(offset + 2, "Huffman code count")
    codes = []
    for k in range(n_codes):
        pos = offset + 4 + 9 * k
        prefix, total, mode = (view.u8(pos + i, "Huffman code") for i in range(3))
        value, raw_code = view.i16(pos + 3, "Huffman code"), view.u32(pos + 5, "Huffman code")
        if mode == 0 or not 0 < prefix <= total <= 32:
            raise EcgFormatError("SCP-ECG: unsupported Huffman code structure")
        code = int(f"{raw_code:032b}"[::-1][:prefix], 2)  # stored least significant bit first
        codes.append(huffman.HuffmanCode(prefix, total, mode, value, code))
    return tuple(codes)


def _leads(view: ByteView, offset: int) -> tuple[list[str], list[int], bool]:
    n_leads, flags = view.u8(offset, "lead count"), view.u8(offset + 1, "lead flags")
    if n_leads == 0:
        raise EcgFormatError("SCP-ECG: section 3 declares zero leads")
    names, lengths = [], []
    for k in range(n_leads):
        pos = offset + 2 + 9 * k
        start, end = view.u32(pos, "lead start"), view.u32(pos + 4, "lead end")
        lead_id = view.u8(pos + 8, "lead id")
        if end < start or start == 0:
            raise EcgFormatError(f"SCP-ECG: lead {k + 1} has samples {start}..{end}")
        names.append(_LEAD_IDS.get(lead_id, f"SCP{lead_id}"))
        lengths.append(end - start + 1)
    return names, lengths, bool(flags & 1)


def _undiff(values: npt.NDArray[np.int64], encoding: int) -> npt.NDArray[np.int64]:
    if encoding == 0:
        return values
    if encoding == 1:
        return np.cumsum(values)
    if encoding == 2:
        if values.size < 2:
            return values
        # x[n] - x[n-1] = d[n] + (x[n-1] - x[n-2]): two running sums
        steps = values[1:].copy()
        steps[0] -= values[0]
        out = np.empty_like(values)
        out[0] = values[0]
        out[1:] = values[0] + np.cumsum(np.cumsum(steps))
        return out
    raise EcgFormatError(f"SCP-ECG: unknown difference encoding {encoding}")


def _rhythm(
    view: ByteView,
    sections: dict[int, tuple[int, int]],
    n_samples: list[int],
    table: tuple[huffman.HuffmanCode, ...] | None,
    limits: ReadLimits,
) -> tuple[npt.NDArray[np.float64], float]:
    if 6 not in sections:
        raise EcgFormatError("SCP-ECG: no rhythm data (section 6)")
    offset, length = sections[6]
    avm_nv, interval_us = view.u16(offset, "AVM"), view.u16(offset + 2, "sample interval")
    encoding, bimodal = view.u8(offset + 4, "encoding"), view.u8(offset + 5, "bimodal flag")
    if avm_nv == 0 or interval_us == 0:
        raise EcgFormatError(f"SCP-ECG: AVM {avm_nv} nV / sample interval {interval_us} us")
    if bimodal:
        raise EcgFormatError("SCP-ECG: bimodal compression is not supported")
    # the lead table (section 3) declares the samples: bound them before any is decoded
    limits.check_duration(max(n_samples), 1e6 / interval_us)
    limits.check_samples("the SCP-ECG file", sum(n_samples))
    pos = offset + 6 + 2 * len(n_samples)
    leads = []
    for k, n in enumerate(n_samples):
        size = view.u16(offset + 6 + 2 * k, "lead data length")
        chunk = view.bytes_at(pos, size, f"rhythm data of lead {k + 1}")
        if table is None:
            if size < 2 * n:
                raise EcgFormatError(f"SCP-ECG: lead {k + 1} has {size // 2} of {n} samples")
            raw = np.frombuffer(chunk[: 2 * n], dtype="<i2").astype(np.int64)
        else:
            raw = huffman.decode(chunk, n, table)
        leads.append(_undiff(raw, encoding))
        pos += size
    if pos > offset + length:
        raise EcgFormatError("SCP-ECG: lead data run past the end of section 6")
    n = min(len(x) for x in leads)
    samples = np.vstack([x[:n] for x in leads]).astype(np.float64) * (avm_nv * 1e-6)
    return samples, 1e6 / interval_us


def _machine(view: ByteView, sections: dict[int, tuple[int, int]]) -> MachineMeasurements | None:
    if 7 not in sections:
        return None
    offset, length = sections[7]
    n_blocks = view.u8(offset, "measurement block count")
    if n_blocks == 0 or length < 6 + 16:
        return None

    def value(pos: int) -> float | None:
        raw = view.i16(pos, "measurement")
        return None if raw in (_UNDEFINED, -_UNDEFINED) or raw == 0x7FFF else float(raw)

    rr = value(offset + 2)
    block = offset + 6
    p_on, p_off, q_on, q_off, t_off = (value(block + 2 * i) for i in range(5))
    axes = [value(block + 10 + 2 * i) for i in range(3)]
    tail = offset + 6 + 16 * n_blocks
    qtc = None
    if tail + 4 <= offset + length:
        n_spikes = view.u16(tail, "pacemaker spike count")
        pos = tail + 2 + 10 * n_spikes
        n_qrs = view.u16(pos, "QRS type count") if pos + 2 <= offset + length else 0
        pos += 2 + n_qrs
        remaining = offset + length - pos
        if remaining >= 9:
            qtc = value(pos + 4)
        elif remaining >= 4:
            qtc = value(pos + 2)  # older writers omit the atrial rate

    def span(a: float | None, b: float | None) -> float | None:
        return b - a if a is not None and b is not None else None

    return MachineMeasurements(
        rr_ms=rr, p_ms=span(p_on, p_off), pr_ms=span(p_on, q_on), qrs_ms=span(q_on, q_off),
        qt_ms=span(q_on, t_off), qtc_ms=qtc, p_axis=axes[0], qrs_axis=axes[1], t_axis=axes[2],
        statements=_statements(view, sections),
    )  # fmt: skip


def _statements(view: ByteView, sections: dict[int, tuple[int, int]]) -> tuple[str, ...]:
    if 8 not in sections:
        return ()
    offset, length = sections[8]
    count = view.u8(offset + 8, "statement count") if length > 8 else 0
    out, pos = [], offset + 9
    for _ in range(count):
        size = view.u16(pos + 1, "statement length")
        text = view.bytes_at(pos + 3, size, "statement").split(b"\0")[0]
        out.append(text.decode("latin-1").strip())
        pos += 3 + size
    return tuple(s for s in out if s)


def read_scp(data: bytes, limits: ReadLimits = NO_LIMITS) -> EcgRecord:
    """Read an SCP-ECG file: leads from section 3, rhythm data from section 6.

    The lead table's declared samples are checked against ``limits`` (duration at the rhythm
    data's sample interval, and size) before the rhythm data are decoded.
    """
    view = ByteView(data, "SCP-ECG")
    if len(data) < 6 + 16:
        raise EcgFormatError(f"SCP-ECG: file of {len(data)} bytes is too short")
    sections = _sections(view)
    if 3 not in sections:
        raise EcgFormatError("SCP-ECG: no lead definition (section 3)")
    names, n_samples, subtracted = _leads(view, sections[3][0])
    if subtracted:
        raise EcgFormatError("SCP-ECG: reference-beat subtraction is not supported")
    table = _huffman_table(view, sections)
    samples, fs = _rhythm(view, sections, n_samples, table, limits)
    patient, device = _patient(view, *sections[1]) if 1 in sections else (None, None)
    return build_record(
        samples, fs, names, source_format="scp", patient=patient, device=device,
        machine=_machine(view, sections),
    )  # fmt: skip
