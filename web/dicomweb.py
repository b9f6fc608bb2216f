"""DICOMweb under ``/dicom-web``: QIDO-RS search, WADO-RS retrieve (instances, metadata, frames,
bulk data, rendered) and STOW-RS store, with the API's bearer tokens and scoping.

Views parse the request, call :mod:`imaging.query` / :mod:`imaging.archive`, and answer in the
DICOMweb media types. File reads, parsing and rendering run off the event loop.
"""

from __future__ import annotations

import asyncio
import functools
import io
import json
import logging
import uuid
from collections.abc import Iterable
from typing import Any

import pydicom
from aiohttp import web
from pydicom.datadict import keyword_for_tag
from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames
from pydicom.uid import UID

from consult.errors import InvalidInput, NotFound
from imaging import query
from imaging.archive import Archive
from imaging.files import is_uid
from imaging.find_response import to_dataset
from imaging.header import MalformedDataset
from imaging.node_values import DifferentContent, Level, QueryError, UidConflict
from imaging.pixels import PixelDataMismatch
from imaging.receiver import Mismatch
from imaging.render import PRESETS, RenderError, RenderOptions, render_file
from imaging.senders import stow_origin
from web import keys
from web.api import Call, Endpoints
from web.imaging_wiring import ARCHIVE
from web.proxies import is_secure

logger = logging.getLogger(__name__)

endpoints = Endpoints("dicomweb")
ROOT = "/dicom-web"
STUDY = ROOT + "/studies/{study}"
SERIES = STUDY + "/series/{series}"
INSTANCE = SERIES + "/instances/{instance}"
DICOM_JSON = "application/dicom+json"
MAX_LIMIT = 1000
FRAME_MEDIA = {
    "1.2.840.10008.1.2.4.50": "image/jpeg",
    "1.2.840.10008.1.2.4.51": "image/jpeg",
    "1.2.840.10008.1.2.4.57": "image/jpeg",
    "1.2.840.10008.1.2.4.70": "image/jpeg",
    "1.2.840.10008.1.2.4.80": "image/jls",
    "1.2.840.10008.1.2.4.81": "image/jls",
    "1.2.840.10008.1.2.4.90": "image/jp2",
    "1.2.840.10008.1.2.4.91": "image/jp2",
    "1.2.840.10008.1.2.5": "image/dicom-rle",
}


def _archive(call: Call) -> Archive:
    return call.request.app[ARCHIVE]


def _uid(call: Call, name: str) -> str:
    value = call.request.match_info[name]
    if not is_uid(value):
        raise InvalidInput(f"{name} is not a UID", field=name)
    return value


def dicomweb_base(call: Call) -> str:
    scheme = "https" if is_secure(call.request) else "http"
    return f"{scheme}://{call.request.host}{ROOT}"


def _json(payload: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=json.dumps(payload, ensure_ascii=False).encode(),
        status=status,
        content_type=DICOM_JSON,
    )


# -- QIDO-RS ------------------------------------------------------------------------------------


def _qido_keys(call: Call) -> tuple[dict[str, str], int, int]:
    keys: dict[str, str] = {}
    limit, offset = MAX_LIMIT, 0
    for name, value in call.request.query.items():
        if name in ("access_token", "fuzzymatching"):
            continue
        if name == "limit":
            limit = _int(value, "limit", 1, MAX_LIMIT)
        elif name == "offset":
            offset = _int(value, "offset", 0, 10**9)
        elif name == "includefield":
            for field in value.split(","):
                keyword = _keyword(field.strip())
                if keyword:
                    keys.setdefault(keyword, "")
        else:
            keyword = _keyword(name)
            if keyword is None:
                raise InvalidInput(f"unknown attribute {name!r}", field=name)
            keys[keyword] = value
    return keys, limit, offset


def _keyword(name: str) -> str | None:
    if name == "all":
        return None
    if len(name) == 8 and all(c in "0123456789abcdefABCDEF" for c in name):
        return keyword_for_tag(int(name, 16)) or None
    return name if pydicom.datadict.tag_for_keyword(name) is not None else None


def _int(value: str, name: str, low: int, high: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise InvalidInput(f"{name} must be a number", field=name) from None
    if not low <= number <= high:
        raise InvalidInput(f"{name} must be {low}-{high}", field=name)
    return number


async def _search(call: Call, level: Level, fixed: dict[str, str]) -> web.Response:
    keys, limit, offset = _qido_keys(call)
    keys.update(fixed)
    await _archive(call).flush()  # everything acknowledged over DICOM is visible
    async with call.work() as work:
        try:
            matches = await query.find(
                work, level, keys, await query.reader_scope(work), limit=limit, offset=offset
            )
        except QueryError as exc:
            raise InvalidInput(str(exc)) from None
    base = dicomweb_base(call)
    out = []
    for values in matches:
        ds = to_dataset(values, level)
        del ds.QueryRetrieveLevel
        item = ds.to_json_dict()
        study = values.get("StudyInstanceUID")
        if study:
            item["00081190"] = {"vr": "UR", "Value": [f"{base}/studies/{study}"]}
        out.append(item)
    return _json(out)


@endpoints.get(ROOT + "/studies", summary="QIDO-RS: search for studies")
async def search_studies(call: Call) -> web.Response:
    return await _search(call, Level.STUDY, {})


@endpoints.get(ROOT + "/series", summary="QIDO-RS: search for series")
async def search_all_series(call: Call) -> web.Response:
    return await _search(call, Level.SERIES, {})


@endpoints.get(STUDY + "/series", summary="QIDO-RS: search for a study's series")
async def search_series(call: Call) -> web.Response:
    return await _search(call, Level.SERIES, {"StudyInstanceUID": _uid(call, "study")})


@endpoints.get(ROOT + "/instances", summary="QIDO-RS: search for instances")
async def search_all_instances(call: Call) -> web.Response:
    return await _search(call, Level.IMAGE, {})


@endpoints.get(STUDY + "/instances", summary="QIDO-RS: search for a study's instances")
async def search_study_instances(call: Call) -> web.Response:
    return await _search(call, Level.IMAGE, {"StudyInstanceUID": _uid(call, "study")})


@endpoints.get(SERIES + "/instances", summary="QIDO-RS: search for a series' instances")
async def search_instances(call: Call) -> web.Response:
    fixed = {"StudyInstanceUID": _uid(call, "study"), "SeriesInstanceUID": _uid(call, "series")}
    return await _search(call, Level.IMAGE, fixed)


# -- WADO-RS ------------------------------------------------------------------------------------


async def _refs(
    call: Call, *, series: bool = False, instance: bool = False
) -> list[query.InstanceRef]:
    study_uid = _uid(call, "study")
    series_uid = _uid(call, "series") if series else None
    sop_uid = _uid(call, "instance") if instance else None
    await _archive(call).flush()
    async with call.work() as work:
        refs = await query.instances(
            work,
            await query.reader_scope(work),
            study_uids=[study_uid],
            series_uids=[series_uid] if series_uid else None,
            sop_uids=[sop_uid] if sop_uid else None,
            action="imaging.wado",
        )
    if not refs:
        raise NotFound("no such study, series or instance")
    return refs


async def _multipart(
    call: Call, media_type: str, parts: Iterable[tuple[dict[str, str], Any]]
) -> web.StreamResponse:
    """Stream a multipart/related response; each part's body may be bytes or a coroutine."""
    boundary = uuid.uuid4().hex
    response = web.StreamResponse(
        headers={"Content-Type": f'multipart/related; type="{media_type}"; boundary={boundary}'}
    )
    await response.prepare(call.request)
    for headers, body in parts:
        data = await body if asyncio.iscoroutine(body) else body
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        await response.write(f"--{boundary}\r\n{head}\r\n".encode() + data + b"\r\n")
    await response.write(f"--{boundary}--\r\n".encode())
    await response.write_eof()
    return response


async def _retrieve(call: Call, refs: list[query.InstanceRef]) -> web.StreamResponse:
    files = _archive(call).files
    parts = (
        (
            {"Content-Type": f"application/dicom; transfer-syntax={r.transfer_syntax}"},
            asyncio.to_thread(files.read, r.path),
        )
        for r in refs
    )
    return await _multipart(call, "application/dicom", parts)


@endpoints.get(STUDY, summary="WADO-RS: a study's instances")
async def retrieve_study(call: Call) -> web.StreamResponse:
    return await _retrieve(call, await _refs(call))


@endpoints.get(SERIES, summary="WADO-RS: a series' instances")
async def retrieve_series(call: Call) -> web.StreamResponse:
    return await _retrieve(call, await _refs(call, series=True))


@endpoints.get(INSTANCE, summary="WADO-RS: one instance")
async def retrieve_instance(call: Call) -> web.StreamResponse:
    return await _retrieve(call, await _refs(call, series=True, instance=True))


def _metadata(path: str, instance_url: str) -> dict[str, Any]:
    ds = pydicom.dcmread(path, defer_size=1024)

    def bulk(element: pydicom.DataElement) -> str:
        return f"{instance_url}/bulkdata/{element.tag:08X}"

    item: dict[str, Any] = ds.to_json_dict(bulk_data_threshold=1024, bulk_data_element_handler=bulk)
    if "7FE00010" in item:
        item["7FE00010"] = {
            "vr": item["7FE00010"]["vr"],
            "BulkDataURI": f"{instance_url}/bulkdata/7FE00010",
        }
    return item


async def _metadata_of(call: Call, refs: list[query.InstanceRef]) -> web.Response:
    files, base = _archive(call).files, dicomweb_base(call)
    out = []
    for r in refs:
        url = f"{base}/studies/{r.study_uid}/series/{r.series_uid}/instances/{r.sop_uid}"
        out.append(await asyncio.to_thread(_metadata, str(files.path(r.path)), url))
    return _json(out)


@endpoints.get(STUDY + "/metadata", summary="WADO-RS: a study's metadata (DICOM JSON)")
async def study_metadata(call: Call) -> web.Response:
    return await _metadata_of(call, await _refs(call))


@endpoints.get(SERIES + "/metadata", summary="WADO-RS: a series' metadata")
async def series_metadata(call: Call) -> web.Response:
    return await _metadata_of(call, await _refs(call, series=True))


@endpoints.get(INSTANCE + "/metadata", summary="WADO-RS: an instance's metadata")
async def instance_metadata(call: Call) -> web.Response:
    return await _metadata_of(call, await _refs(call, series=True, instance=True))


def _frames(path: str, numbers: list[int]) -> tuple[str, list[bytes]]:
    ds = pydicom.dcmread(path)
    if "PixelData" not in ds:
        raise RenderError("the instance has no pixel data")
    total = int(ds.get("NumberOfFrames", 1) or 1)
    bad = [n for n in numbers if not 1 <= n <= total]
    if bad:
        raise RenderError(f"frames {bad} do not exist ({total} frames)")
    syntax = UID(ds.file_meta.TransferSyntaxUID)
    if syntax.is_encapsulated:
        frames = list(generate_frames(ds.PixelData, number_of_frames=total))
        return FRAME_MEDIA.get(str(syntax), "application/octet-stream"), [
            frames[n - 1] for n in numbers
        ]
    size = (
        int(ds.Rows)
        * int(ds.Columns)
        * int(ds.get("SamplesPerPixel", 1))
        * int(ds.BitsAllocated)
        // 8
    )
    data = ds.PixelData
    return "application/octet-stream", [data[(n - 1) * size : n * size] for n in numbers]


@endpoints.get(INSTANCE + "/frames/{frames}", summary="WADO-RS: frames of an instance")
async def retrieve_frames(call: Call) -> web.StreamResponse:
    try:
        numbers = [int(n) for n in call.request.match_info["frames"].split(",")]
    except ValueError:
        raise InvalidInput("frames are numbers separated by commas", field="frames") from None
    (ref,) = await _refs(call, series=True, instance=True)
    path = str(_archive(call).files.path(ref.path))
    try:
        media, frames = await asyncio.to_thread(_frames, path, numbers)
    except RenderError as exc:
        raise InvalidInput(str(exc), field="frames") from None
    headers = {"Content-Type": media}
    if media != "application/octet-stream":
        headers["Content-Type"] = f"{media}; transfer-syntax={ref.transfer_syntax}"
    return await _multipart(call, media, ((headers, f) for f in frames))


@endpoints.get(INSTANCE + "/bulkdata/{tag}", summary="WADO-RS: bulk data of an instance")
async def retrieve_bulkdata(call: Call) -> web.StreamResponse:
    tag = call.request.match_info["tag"]
    if len(tag) != 8 or any(c not in "0123456789abcdefABCDEF" for c in tag):
        raise InvalidInput("tag must be 8 hex digits", field="tag")
    (ref,) = await _refs(call, series=True, instance=True)
    path = str(_archive(call).files.path(ref.path))

    def value() -> bytes:
        ds = pydicom.dcmread(path)
        element = ds.get(int(tag, 16))
        if element is None or not isinstance(element.value, bytes):
            raise NotFound(f"no bulk data at {tag}")
        return bytes(element.value)

    data = await asyncio.to_thread(value)
    return await _multipart(
        call, "application/octet-stream", [({"Content-Type": "application/octet-stream"}, data)]
    )


def _render_options(call: Call, frame: int) -> RenderOptions:
    q = call.request.query
    accept = call.request.headers.get("Accept", "image/jpeg")
    media = "image/png" if "image/png" in accept and "image/jpeg" not in accept else "image/jpeg"
    window = None
    if "window" in q:
        try:
            centre, width, *_ = q["window"].split(",")
            window = (float(centre), float(width))
        except ValueError:
            raise InvalidInput("window is centre,width[,function]", field="window") from None
    viewport = (0, 0)
    if "viewport" in q:
        try:
            w, h = q["viewport"].split(",")[:2]
            viewport = (int(w), int(h))
        except ValueError:
            raise InvalidInput("viewport is width,height", field="viewport") from None
    try:
        return RenderOptions(
            frame=frame,
            window=window,
            preset=q.get("preset", ""),
            max_width=viewport[0],
            max_height=viewport[1],
            media_type=media,
            quality=_int(q.get("quality", "90"), "quality", 1, 100),
        )
    except RenderError as exc:
        raise InvalidInput(str(exc)) from None


async def _render(call: Call, frame: int) -> web.Response:
    options = _render_options(call, frame)
    (ref,) = await _refs(call, series=True, instance=True)
    path = str(_archive(call).files.path(ref.path))
    loop = asyncio.get_running_loop()
    try:
        data = await loop.run_in_executor(
            call.request.app[keys.EXECUTOR], functools.partial(render_file, path, options)
        )
    except RenderError as exc:
        raise InvalidInput(str(exc)) from None
    return web.Response(body=data, content_type=options.media_type)


@endpoints.get(INSTANCE + "/rendered", summary="WADO-RS: an instance rendered (JPEG/PNG)")
async def rendered_instance(call: Call) -> web.Response:
    return await _render(call, 1)


@endpoints.get(INSTANCE + "/frames/{frame:\\d+}/rendered", summary="WADO-RS: a frame rendered")
async def rendered_frame(call: Call) -> web.Response:
    return await _render(call, int(call.request.match_info["frame"]))


# -- STOW-RS ------------------------------------------------------------------------------------


# Failure Reasons (0008,1197) of the Failed SOP Sequence: the C-STORE statuses (PS3.18 10.5.3)
CANNOT_UNDERSTAND = 0xC000
DATASET_MISMATCH = 0xA900  # pixel data not fitting the image attributes, another study's
UID_CONFLICT = 0xC409  # a UID is another institution's, study's or series' (imaging.dimse)
DIFFERENT_CONTENT = 0xC40A  # other content already stored under this SOP Instance UID


async def _store(call: Call, study_uid: str = "") -> web.Response:
    principal = call.principal
    origin = stow_origin(principal)
    if not call.request.content_type.startswith("multipart/related"):
        raise InvalidInput("STOW-RS takes multipart/related; type=application/dicom")
    archive = _archive(call)
    reader = await call.request.multipart()
    stored: list[Dataset] = []
    failed: list[Dataset] = []
    base = dicomweb_base(call)
    while (part := await reader.next()) is not None:
        data = bytes(await part.read())  # type: ignore[union-attr]
        try:
            result = await archive.store_file(data, origin, study_uid=study_uid)
        except (UidConflict, MalformedDataset) as exc:
            reason = _reason(exc)
            logger.warning("STOW from %s: 0x%04X %s", principal.username, reason, exc)
            failed.append(_failure(data, reason, str(exc)))
            continue
        item = Dataset()
        item.ReferencedSOPClassUID = result.sop_class_uid
        item.ReferencedSOPInstanceUID = result.sop_uid
        item.RetrieveURL = (
            f"{base}/studies/{result.study_uid}/series/{result.series_uid}"
            f"/instances/{result.sop_uid}"
        )
        stored.append(item)
    response = Dataset()
    response.ReferencedSOPSequence = stored
    if failed:
        response.FailedSOPSequence = failed
    status = 200 if not failed else (202 if stored else 409)
    return _json(response.to_json_dict(), status=status)


def _reason(exc: Exception) -> int:
    if isinstance(exc, DifferentContent):
        return DIFFERENT_CONTENT
    if isinstance(exc, UidConflict):
        return UID_CONFLICT
    if isinstance(exc, Mismatch | PixelDataMismatch):
        return DATASET_MISMATCH
    return CANNOT_UNDERSTAND


def _failure(data: bytes, reason: int, comment: str) -> Dataset:
    """A Failed SOP Sequence item: the instance (if its UIDs can be read), the reason code and,
    for a person, the reason in Error Comment (0000,0902)."""
    item = Dataset()
    try:
        ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True, force=True)
        item.ReferencedSOPClassUID = _readable_uid(ds.get("SOPClassUID"))
        item.ReferencedSOPInstanceUID = _readable_uid(ds.get("SOPInstanceUID"))
    except Exception:  # whatever it is, it is unreadable: report without identifiers
        item.ReferencedSOPClassUID = None
        item.ReferencedSOPInstanceUID = None
    item.FailureReason = reason
    item.ErrorComment = comment[:64]  # LO: what it is first, the UID after
    return item


def _readable_uid(value: Any) -> str | None:
    """A UID to name the failed instance by: only a valid one (a 65-character one is not)."""
    text = str(value or "").strip()
    return text if is_uid(text) else None


@endpoints.post(ROOT + "/studies", summary="STOW-RS: store instances")
async def store_instances(call: Call) -> web.Response:
    return await _store(call)


@endpoints.post(STUDY, summary="STOW-RS: store instances of one study")
async def store_study_instances(call: Call) -> web.Response:
    return await _store(call, _uid(call, "study"))


__all__ = ["PRESETS", "endpoints"]
