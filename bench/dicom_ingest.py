"""DICOM ingest and C-FIND latency: this node beside Orthanc, driven by dcmtk in the same run.

1. Ingest: the same generated set of ~0.5 MB CT instances (512x512x16 bit, explicit VR little
   endian) is sent with ``storescu`` over one association, then (a second set) over four
   parallel associations, to each server; ``--rounds`` rounds, each with fresh sets and the
   servers' order alternating. Printed: each round, then the median instances/s, the ratio
   ours/Orthanc, and each server's CPU time per instance (its processes and their children,
   from /proc).
2. C-FIND: with ``--find-instances`` instances indexed in each server (ours: a direct bulk insert
   into the index tables; Orthanc: tiny instances stored with four parallel ``storescu``), the
   median end-to-end latency of study-level ``findscu`` queries (process start included, for
   both), three kinds of query.

Both servers run as separate processes with a fresh data directory under a temp dir, loopback
only; Orthanc gets a generated config (SQLite index, its own DICOM port, DicomAlwaysAllowStore).
dcmtk reads the environment variable ``TCP_NODELAY``: it is set to 1 for every dcmtk process
(storescu, findscu, and Orthanc's own dcmtk network layer); our node sets TCP_NODELAY itself.

Usage: ``.venv/bin/python bench/dicom_ingest.py [--count 300] [--rounds 3] [--dicom-workers N]
[--find-instances 100000]``.
Needs dcmtk and Orthanc (``apt-get install dcmtk orthanc``; tried here when missing).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

ROOT = Path(__file__).resolve().parents[1]
OURS_AET, ORTHANC_AET, CALLING = "TELECENTER", "ORTHANC", "DEMO-CT"
ENV = {**os.environ, "TCP_NODELAY": "1"}
PER_STUDY = 50


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ct(study: str, series: str, number: int, patient: str, size: int, date: str) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
    ds.PatientID, ds.PatientName = patient, f"FILL^{patient}"
    ds.PatientBirthDate, ds.PatientSex = "19600101", "M"
    ds.StudyDate, ds.StudyTime, ds.AccessionNumber, ds.StudyID = date, "120000", "", "1"
    ds.Modality, ds.SeriesNumber, ds.InstanceNumber = "CT", 1, number
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.Rows = ds.Columns = size
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.RescaleIntercept, ds.RescaleSlope = -1024, 1
    rng = np.random.default_rng(number)
    ds.PixelData = rng.integers(0, 4096, size * size, dtype=np.uint16).tobytes()
    return ds


def generate(directory: Path, count: int, size: int, tag: str, per_study: int) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    files = []
    study = series = ""
    for i in range(count):
        if i % per_study == 0:
            study, series = generate_uid(), generate_uid()
            patient = f"{tag}{i // per_study:06d}"
            date = (dt.date(2020, 1, 1) + dt.timedelta(days=(i // per_study) % 1500)).strftime(
                "%Y%m%d"
            )
        path = directory / f"{i:07d}.dcm"
        ct(study, series, i % per_study + 1, patient, size, date).save_as(
            path, enforce_file_format=True
        )
        files.append(path)
    return files


def _log(path: Path) -> int:
    """A file descriptor for a server's log (the child process keeps it open)."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)


def wait_echo(port: int, called: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited early ({proc.returncode})")
        rc = subprocess.run(
            ["echoscu", "-aet", CALLING, "-aec", called, "127.0.0.1", str(port)],
            env=ENV,
            capture_output=True,
            check=False,
        ).returncode
        if rc == 0:
            return
        time.sleep(0.3)
    raise SystemExit(f"no C-ECHO answer on port {port}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid`` and its live descendants (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        todo += children.get(current, [])
    return total


def start_ours(work: Path, dicom_port: int, workers: int | None) -> subprocess.Popen[bytes]:
    env = {
        **ENV,
        "TELECENTER_LOG_LEVEL": "WARNING",
        "TELECENTER_ARGON2_MEMORY_KIB": "1024",
        "TELECENTER_ARGON2_TIME_COST": "1",
    }
    cmd = [
        str(ROOT / ".venv" / "bin" / "telecenter"),
        "serve",
        "--demo",
        "--data-dir",
        str(work),
        "--port",
        str(free_port()),
        "--dicom-port",
        str(dicom_port),
        "--mllp-port",
        "0",
        *(["--dicom-workers", str(workers)] if workers is not None else []),
    ]
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=_log(work.parent / "ours.log")
    )
    wait_echo(dicom_port, OURS_AET, proc)
    return proc


def ensure_orthanc() -> str:
    found = shutil.which("Orthanc")
    if found:
        return found
    print("Orthanc missing: apt-get install orthanc", file=sys.stderr)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "orthanc"], check=False
    )
    found = shutil.which("Orthanc")
    if not found:
        raise SystemExit("Orthanc is not installed and could not be installed")
    return found


def start_orthanc(work: Path, dicom_port: int) -> subprocess.Popen[bytes]:
    work.mkdir(parents=True, exist_ok=True)
    config = {
        "Name": "bench",
        "StorageDirectory": str(work / "storage"),
        "IndexDirectory": str(work / "index"),
        "DicomAet": ORTHANC_AET,
        "DicomPort": dicom_port,
        "HttpPort": free_port(),
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "DicomAlwaysAllowStore": True,
        "DicomCheckCalledAeTitle": False,
        "DicomAlwaysAllowEcho": True,
        "DicomAlwaysAllowFind": True,
        "TcpNoDelay": True,
        "Plugins": [],
        "StorageCompression": False,
        "ConcurrentJobs": 2,
    }
    path = work / "orthanc.json"
    path.write_text(json.dumps(config, indent=2))
    proc = subprocess.Popen(
        [ensure_orthanc(), str(path)],
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=_log(work.parent / "orthanc.log"),
    )
    wait_echo(dicom_port, ORTHANC_AET, proc)
    return proc


def store(port: int, called: str, files: list[Path], parallel: int) -> float:
    chunks = [files[i::parallel] for i in range(parallel)]
    start = time.perf_counter()
    procs = [
        subprocess.Popen(
            [
                "storescu",
                "-aet",
                CALLING,
                "-aec",
                called,
                "-pdu",
                "131072",
                "127.0.0.1",
                str(port),
                *map(str, chunk),
            ],
            env=ENV,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for chunk in chunks
    ]
    for proc in procs:
        _, err = proc.communicate()
        if proc.returncode != 0:
            raise SystemExit(f"storescu to {called} failed: {err.decode()[-500:]}")
    return time.perf_counter() - start


def find_ms(port: int, called: str, keys: list[str], runs: int) -> tuple[float, int]:
    times, answers = [], 0
    for _ in range(runs):
        start = time.perf_counter()
        out = subprocess.run(
            [
                "findscu",
                "-S",
                "-aet",
                CALLING,
                "-aec",
                called,
                "-k",
                "QueryRetrieveLevel=STUDY",
                "-k",
                "StudyInstanceUID",
                "-k",
                "PatientName",
                "-k",
                "StudyDate",
                *[a for k in keys for a in ("-k", k)],
                "127.0.0.1",
                str(port),
            ],
            env=ENV,
            capture_output=True,
            check=True,
        )
        times.append((time.perf_counter() - start) * 1000)
        answers = out.stderr.decode().count("Find Response:") + out.stdout.decode().count(
            "Find Response:"
        )
    return statistics.median(times), answers


def _insert(table: str, columns: str) -> str:
    names = columns.split()
    return f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"


def fill_ours(data_dir: Path, count: int) -> None:
    """Bulk-insert ``count`` instances (PER_STUDY a study) straight into our index tables."""
    import sqlite3

    db = sqlite3.connect(data_dir / "telecenter.db")
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(sep=" ")
    institution = db.execute("SELECT id FROM institution WHERE code='th-dongcheng'").fetchone()[0]
    studies = count // PER_STUDY
    base_p = (db.execute("SELECT coalesce(max(id),0) FROM imaging_patient").fetchone()[0]) + 1
    base_s = (db.execute("SELECT coalesce(max(id),0) FROM imaging_study").fetchone()[0]) + 1
    base_se = (db.execute("SELECT coalesce(max(id),0) FROM imaging_series").fetchone()[0]) + 1
    with db:
        db.executemany(
            _insert("imaging_patient", "id institution_id dicom_patient_id name birth_date sex"),
            [
                (base_p + i, institution, f"F{i:06d}", f"FILL^F{i:06d}", "19600101", "M")
                for i in range(studies)
            ],
        )
        db.executemany(
            _insert(
                "imaging_study",
                "id study_uid imaging_patient_id institution_id study_date study_time"
                " accession_number study_id description referring_physician modalities num_series"
                " num_instances received_at updated_at",
            ),
            [
                (
                    base_s + i,
                    f"2.25.{10**20 + i}",
                    base_p + i,
                    institution,
                    (dt.date(2020, 1, 1) + dt.timedelta(days=i % 1500)).strftime("%Y%m%d"),
                    "120000",
                    "",
                    "1",
                    "",
                    "",
                    "CT",
                    1,
                    PER_STUDY,
                    now,
                    now,
                )
                for i in range(studies)
            ],
        )
        db.executemany(
            _insert(
                "imaging_series",
                "id series_uid study_id modality series_number description body_part series_date"
                " series_time num_instances",
            ),
            [
                (
                    base_se + i,
                    f"2.25.{2 * 10**20 + i}",
                    base_s + i,
                    "CT",
                    1,
                    "",
                    "",
                    "",
                    "",
                    PER_STUDY,
                )
                for i in range(studies)
            ],
        )
        db.executemany(
            _insert(
                "imaging_instance",
                "sop_uid series_id sop_class_uid instance_number transfer_syntax path size rows"
                " columns frames received_at",
            ),
            (
                (
                    f"2.25.{3 * 10**20 + n}",
                    base_se + n // PER_STUDY,
                    CTImageStorage,
                    n % PER_STUDY + 1,
                    ExplicitVRLittleEndian,
                    "00/none.dcm",
                    0,
                    8,
                    8,
                    1,
                    now,
                )
                for n in range(studies * PER_STUDY)
            ),
        )
    db.close()


MODES = (("1 association", 1), ("4 associations", 4))


def ingest(tmp: Path, servers: dict[str, tuple[int, str, int]], count: int, rounds: int) -> None:
    """Store fresh sets into both servers, ``rounds`` times; print rates, ratios and CPU."""
    rates: dict[str, dict[str, list[float]]] = {m: {n: [] for n in servers} for m, _ in MODES}
    cpu: dict[str, dict[str, list[float]]] = {m: {n: [] for n in servers} for m, _ in MODES}
    sets = {
        (round_, parallel, name): generate(
            tmp / f"r{round_}-{parallel}-{name}", count, 512, "A", count
        )
        for round_ in range(rounds)
        for _, parallel in MODES
        for name in servers
    }
    size_mb = next(iter(sets.values()))[0].stat().st_size / 1e6
    print(f"generated {len(sets)} sets of {count} CT instances of {size_mb:.2f} MB")
    print("\nC-STORE ingest (storescu, TCP_NODELAY=1), instances/s")
    print(f"{'round':6} {'mode':16} {'ours':>8} {'Orthanc':>8} {'ratio':>6}")
    for round_ in range(rounds):
        for mode, parallel in MODES:
            order = list(servers) if round_ % 2 == 0 else list(reversed(servers))
            for name in order:
                port, called, pid = servers[name]
                files = sets[round_, parallel, name]
                os.sync()  # nobody's dirty pages are written back during the next pass
                before = cpu_seconds(pid)
                seconds = store(port, called, files, parallel)
                cpu[mode][name].append((cpu_seconds(pid) - before) / count * 1000)
                rates[mode][name].append(count / seconds)
                shutil.rmtree(files[0].parent, ignore_errors=True)
            ours, theirs = rates[mode]["ours"][-1], rates[mode]["orthanc"][-1]
            print(f"{round_ + 1:<6} {mode:16} {ours:8.1f} {theirs:8.1f} {ours / theirs:6.2f}")
    print(f"\nmedian of {rounds} rounds: instances/s, ratio, server CPU ms per instance")
    print(f"{'mode':16} {'ours':>8} {'Orthanc':>8} {'ratio':>6} {'CPU ours':>9} {'Orthanc':>8}")
    for mode, _ in MODES:
        ours, theirs = (statistics.median(rates[mode][n]) for n in ("ours", "orthanc"))
        cpu_ours, cpu_theirs = (statistics.median(cpu[mode][n]) for n in ("ours", "orthanc"))
        print(
            f"{mode:16} {ours:8.1f} {theirs:8.1f} {ours / theirs:6.2f}"
            f" {cpu_ours:9.2f} {cpu_theirs:8.2f}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--count", type=int, default=300, help="0.5 MB instances a mode (default 300)"
    )
    parser.add_argument("--find-instances", type=int, default=100_000, help="index size for C-FIND")
    parser.add_argument("--find-runs", type=int, default=15)
    parser.add_argument("--skip-find", action="store_true")
    parser.add_argument("--rounds", type=int, default=3, help="ingest rounds (default 3)")
    parser.add_argument(
        "--dicom-workers", type=int, help="our node's worker processes (default: the server's)"
    )
    args = parser.parse_args()
    for tool in ("storescu", "findscu", "echoscu"):
        if shutil.which(tool) is None:
            raise SystemExit("dcmtk is missing: run scripts/install-peers.sh")
    tmp = Path(tempfile.mkdtemp(prefix="dicom-bench-"))
    print(f"work directory {tmp}")
    ours_port, orthanc_port = free_port(), free_port()
    ours = start_ours(tmp / "ours", ours_port, args.dicom_workers)
    orthanc = start_orthanc(tmp / "orthanc", orthanc_port)
    servers = {
        "ours": (ours_port, OURS_AET, ours.pid),
        "orthanc": (orthanc_port, ORTHANC_AET, orthanc.pid),
    }
    try:
        ingest(tmp, servers, args.count, args.rounds)
        if args.skip_find:
            return 0
        n = args.find_instances
        start = time.perf_counter()
        fill_ours(tmp / "ours", n)
        print(f"\nours: {n} instances bulk-inserted in {time.perf_counter() - start:.1f} s")
        start = time.perf_counter()
        tiny = generate(tmp / "fill", n, 8, "F", PER_STUDY)
        print(f"orthanc: generated {n} tiny instances in {time.perf_counter() - start:.1f} s")
        start = time.perf_counter()
        seconds = store(orthanc_port, ORTHANC_AET, tiny, 4)
        print(f"orthanc: stored {n} instances in {seconds:.1f} s ({n / seconds:.0f}/s)")
        shutil.rmtree(tmp / "fill", ignore_errors=True)
        queries = {
            "PatientID exact": ["PatientID=F000123"],
            "PatientName prefix*": ["PatientName=FILL^F00012*"],
            "StudyDate range (~1%)": ["StudyDate=20210101-20210115"],
        }
        print(f"\nstudy-level C-FIND (findscu, end to end, median of {args.find_runs}), ms")
        print(f"{'query':24} {'ours':>8} {'Orthanc':>8} {'answers':>8}")
        for label, keys in queries.items():
            ours_ms, ours_n = find_ms(ours_port, OURS_AET, keys, args.find_runs)
            orth_ms, orth_n = find_ms(orthanc_port, ORTHANC_AET, keys, args.find_runs)
            print(f"{label:24} {ours_ms:8.1f} {orth_ms:8.1f} {ours_n:>4}/{orth_n:<4}")
    finally:
        for proc in (ours, orthanc):
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
