"""Long-ECG reading benchmark: one page of samples as a binary window vs the whole record as JSON.

Run with ``.venv/bin/python bench/ecg_window.py``. On a 30-minute record (MIT-BIH 100 as a zipped
WFDB upload, else a synthetic one) it measures, in the same run and by the same code the server
runs (auth and database excluded):

- the old whole-record JSON (``ecg.pipeline.samples_of`` + ``json.dumps``): bytes, gzip bytes, time;
- the first window (cold: the original is decoded once into the int16 tracing cache);
- a page of strips (60 s of one lead) and a 10 s 2-lead window from the warm cache.
"""

from __future__ import annotations

import gzip
import json
import logging
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from consult.filestore import ContentStore  # noqa: E402
from ecg import window as w  # noqa: E402
from ecg.pipeline import samples_of  # noqa: E402
from tests.ecg_center.test_long_reading import long_zip  # noqa: E402


def timed(fn: Callable[[], Any], rounds: int) -> tuple[float, Any]:
    """Median wall time in ms over ``rounds`` calls, and the last result."""
    times, result = [], None
    for _ in range(rounds):
        start = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), result


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    data = long_zip()
    ms_json, body_json = timed(lambda: json.dumps(samples_of(data, "100.zip", None)).encode(), 3)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        key = w.cache_key(ContentStore.digest(data), None)

        def cold() -> bytes:
            for f in root.iterdir():
                f.unlink()
            tracing = w.build(root, key, data, "100.zip", None)
            start, count = w.window_range(tracing, 600.0, 60.0, ("II",))
            return w.read_window(root, key, tracing, ("II",), start, count).body()

        def warm(start_s: float, duration_s: float, leads: tuple[str, ...]) -> bytes:
            tracing = w.stored(root, key)
            assert tracing is not None
            start, count = w.window_range(tracing, start_s, duration_s, leads)
            return w.read_window(root, key, tracing, leads, start, count).body()

        ms_cold, body_cold = timed(cold, 3)
        tracing = w.stored(root, key)
        assert tracing is not None
        both = tracing.leads
        ms_page, body_page = timed(lambda: warm(900.0, 60.0, ("II",)), 50)
        ms_ten, body_ten = timed(lambda: warm(1200.0, 10.0, both), 50)

    rows = [
        ("whole record as JSON (old)", body_json, ms_json),
        ("first window, cold (decode + cache)", body_cold, ms_cold),
        ("page: 60 s x 1 lead, warm", body_page, ms_page),
        (f"10 s x {len(both)} leads, warm", body_ten, ms_ten),
    ]
    print(f"30-minute record: {tracing.duration_s:.0f} s, {len(both)} leads at {tracing.fs:g} Hz")
    print(f"{'':40} {'bytes':>11} {'gzip bytes':>11} {'ms':>9}")
    for name, body, ms in rows:
        print(f"{name:40} {len(body):>11,} {len(gzip.compress(body, 6)):>11,} {ms:>9.2f}")
    print(
        f"page vs old JSON: {len(body_json) / len(body_page):.0f}x fewer bytes, "
        f"{ms_json / ms_page:.0f}x faster (warm); first page {ms_json / ms_cold:.1f}x faster"
    )


if __name__ == "__main__":
    main()
