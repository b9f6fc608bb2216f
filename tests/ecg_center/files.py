"""ECG files as devices write them, made from synthetic recordings."""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import wfdb

from ecg.record import EcgRecord
from tests.ecg.synth import SynthSpec, synth


def wfdb_zip(record: EcgRecord, name: str = "ecg") -> bytes:
    """A WFDB record (header + format 16 signal) zipped, as a device exports it."""
    with tempfile.TemporaryDirectory() as tmp:
        wfdb.wrsamp(
            name,
            fs=record.fs,
            units=["mV"] * len(record.leads),
            sig_name=list(record.leads),
            p_signal=np.asarray(record.samples).T,
            fmt=["16"] * len(record.leads),
            adc_gain=[1000.0] * len(record.leads),
            baseline=[0] * len(record.leads),
            write_dir=tmp,
        )
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            for path in Path(tmp).iterdir():
                zf.write(path, path.name)
        return buf.getvalue()


def stemi_zip(seed: int = 7) -> bytes:
    """Anterior STEMI: 3 mm ST elevation in V2-V4 (and 1.5 mm in V1, V5)."""
    spec = SynthSpec(
        rate_bpm=88, st_chest={"V1": 0.15, "V2": 0.3, "V3": 0.3, "V4": 0.3, "V5": 0.15}, seed=seed
    )
    return wfdb_zip(synth(spec), "stemi")


def normal_zip(seed: int = 11) -> bytes:
    return wfdb_zip(synth(SynthSpec(rate_bpm=72, seed=seed)), "normal")


def csv_text(record: EcgRecord) -> bytes:
    """A CSV export in microvolts, one column per lead, with a header row."""
    rows = [",".join(record.leads)]
    data = np.round(np.asarray(record.samples).T * 1000).astype(int)
    rows += [",".join(str(v) for v in row) for row in data]
    return ("\n".join(rows) + "\n").encode()
