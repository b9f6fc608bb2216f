"""A C-FIND / QIDO response identifier from one match: plain pydicom, no database."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydicom.charset import convert_encodings
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import Tag

from imaging.node_values import Level

CHARACTER_SET = "ISO_IR 192"  # UTF-8
# encoded as (padded) text; anything else goes through pydicom's element writers
_TEXT_VRS = frozenset({
    "AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UI",
    "UR", "UT",
})  # fmt: skip


def to_dataset(
    values: Mapping[str, Any],
    level: Level,
    *,
    empty: Iterable[str] = (),
    retrieve_aet: str | None = None,
    encoding: tuple[bool, bool] | None = None,
) -> Dataset:
    """A C-FIND / QIDO response identifier from one match.

    Text values are stored pre-encoded (UTF-8, as Specific Character Set ISO_IR 192 declares);
    given the ``encoding`` (implicit VR, little endian) the identifier will be written in,
    pydicom writes them as they are instead of converting and re-encoding each one. ``empty``
    names requested keys without a value, returned zero-length.
    """
    ds = Dataset()
    if encoding is not None:
        ds.set_original_encoding(*encoding, convert_encodings([CHARACTER_SET]))
    _put(ds, "SpecificCharacterSet", CHARACTER_SET)
    _put(ds, "QueryRetrieveLevel", str(level))
    for keyword, value in values.items():
        _put(ds, keyword, value)
    for keyword in empty:
        if keyword not in ds:
            _put(ds, keyword, None)
    if retrieve_aet is not None:
        _put(ds, "RetrieveAETitle", retrieve_aet)
    return ds


def _put(ds: Dataset, keyword: str, value: Any) -> None:
    tag = tag_for_keyword(keyword)
    if tag is None:
        raise ValueError(f"{keyword} is not a DICOM keyword")
    vr = dictionary_VR(tag)
    if vr not in _TEXT_VRS and vr != "SQ":
        setattr(ds, keyword, value)
        return
    raw = b"" if value is None or vr == "SQ" else str(value).encode("utf-8")
    if len(raw) % 2:
        raw += b"\0" if vr == "UI" else b" "
    ds[tag] = RawDataElement(Tag(tag), vr, len(raw), raw, 0, True, True)
