"""``telecenter ecg ...`` commands: analyse or render an ECG file from the command line.

`add_ecg_commands` adds the ``ecg`` command group to an argparse sub-parser set; each leaf
command stores its handler in ``func`` (call it with the parsed namespace; it returns the
exit status).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from ecg import EcgAnalysis, EcgRecord

# The ECG core (scipy) is imported by the ECG commands themselves: every other command (and the
# server's start) would otherwise wait a second or more for a numerical stack it does not use.


def add_ecg_commands(
    subparsers: argparse._SubParsersAction,
    common: argparse.ArgumentParser | None = None,
) -> argparse.ArgumentParser:
    """Add ``ecg analyze`` and ``ecg render`` to ``subparsers``; returns the ``ecg`` parser.

    ``common`` carries the options every telecenter command takes (``--config``, ``--data-dir``).
    """
    parents = [common] if common is not None else []
    ecg = subparsers.add_parser("ecg", parents=parents, help="analyse and render ECG recordings")
    commands = ecg.add_subparsers(dest="ecg_command", required=True)
    analyze_cmd = commands.add_parser("analyze", parents=parents, help="analyse an ECG file")
    _add_input_arguments(analyze_cmd)
    analyze_cmd.add_argument("--json", action="store_true", help="print the analysis as JSON")
    analyze_cmd.add_argument("--age", type=int, help="patient age in years")
    analyze_cmd.add_argument("--sex", choices=("M", "F"), help="patient sex")
    analyze_cmd.set_defaults(func=run_ecg_analyze)
    render_cmd = commands.add_parser(
        "render", parents=parents, help="draw an ECG on standard paper"
    )
    _add_input_arguments(render_cmd)
    render_cmd.add_argument("--out", required=True, help="output file (.svg or .png)")
    render_cmd.set_defaults(func=run_ecg_render)
    return ecg


def _add_input_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "path", help="ECG file (DICOM, aECG XML, SCP, WFDB zip, CSV) or WFDB record path"
    )
    parser.add_argument("--fs", type=float, help="CSV: sampling rate in Hz")
    parser.add_argument("--gain", type=float, default=1.0, help="CSV: raw units per mV")
    parser.add_argument("--leads", help="CSV: comma-separated lead order")
    parser.add_argument("--header-rows", type=int, default=0, help="CSV: lines to skip")


def load_record(args: argparse.Namespace) -> EcgRecord:
    """Read the record named by ``args.path`` (a file, or a WFDB record without extension)."""
    from ecg import STANDARD_LEADS, CsvProfile, EcgFormatError, read_ecg, read_wfdb_record

    path = Path(args.path)
    if not path.is_file() and path.with_name(path.name + ".hea").is_file():
        return read_wfdb_record(path)
    if path.suffix.lower() == ".hea":
        return read_wfdb_record(path.with_suffix(""))
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise EcgFormatError(f"cannot read {path}: {exc.strerror}") from exc
    profile = None
    if args.fs is not None:
        leads = tuple(n.strip() for n in args.leads.split(",")) if args.leads else STANDARD_LEADS
        profile = CsvProfile(fs=args.fs, gain=args.gain, leads=leads, header_rows=args.header_rows)
    return read_ecg(data, path.name, profile)


def format_text(result: EcgAnalysis) -> str:
    """A human-readable summary of an analysis."""
    d = result.to_dict()
    iv, axes = result.intervals.to_dict(), result.axes.to_dict()
    hr = d["heart_rate_bpm"]
    lines = [
        f"fs {result.fs:g} Hz, {result.duration_s:.1f} s, leads {' '.join(result.leads)}",
        f"beats {len(result.beats)} ({d['beat_counts']}), heart rate {hr or '-'} bpm",
        "intervals (ms): "
        + ", ".join(f"{k.removesuffix('_ms')} {v}" for k, v in iv.items() if v is not None),
        "axes (deg): " + ", ".join(f"{k} {v}" for k, v in axes.items() if v is not None),
        "statements:",
        *[f"  [{s.code}] {s.en} / {s.zh} {dict(s.values) or ''}" for s in result.statements],
    ]
    if result.critical:
        lines.append("CRITICAL: " + "; ".join(result.critical_reasons))
    if result.machine:
        lines.append(f"device's own values: {result.machine.to_dict()}")
    return "\n".join(lines)


def run_ecg_analyze(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run ``ecg analyze``: print text or JSON; 0 on success, 2 on unreadable input."""
    from ecg import EcgFormatError, analyze

    out = out or sys.stdout
    try:
        record = load_record(args)
        result = analyze(record, age=args.age, sex=args.sex)
    except (EcgFormatError, ValueError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    if args.json:
        out.write(json.dumps(result.to_dict(), ensure_ascii=False, indent=1) + "\n")
    else:
        out.write(format_text(result) + "\n")
    return 0


def run_ecg_render(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run ``ecg render``: write an SVG or PNG of the record."""
    from ecg import EcgFormatError, render_png, render_svg

    out = out or sys.stdout
    try:
        record = load_record(args)
    except (EcgFormatError, ValueError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    target = Path(args.out)
    title = Path(args.path).name
    if target.suffix.lower() == ".png":
        target.write_bytes(render_png(record, title=title))
    else:
        target.write_text(render_svg(record, title=title), encoding="utf-8")
    out.write(f"wrote {target}\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry point (``python -m web.cli_ecg ecg analyze PATH``)."""
    parser = argparse.ArgumentParser(prog="telecenter")
    add_ecg_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
