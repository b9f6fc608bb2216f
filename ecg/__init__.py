"""ECG core: readers, pre-processing, QRS detection, beats, measurements, statements, rendering.

Pure functions and value objects only: no HTTP, no database, no file writes.
"""

from ecg.analysis import EcgAnalysis, analyze
from ecg.beats import Hrv, classify_beats, heart_rate_bpm, hrv
from ecg.dsp import LeadQuality, clean, lead_quality
from ecg.errors import EcgFormatError
from ecg.interpret import CriticalThresholds
from ecg.leads import STANDARD_LEADS
from ecg.measure import Axes, Intervals, StLevel
from ecg.qrs import QrsConfig, detect_qrs
from ecg.readers import CsvProfile, read_ecg, read_wfdb_record, sniff_format
from ecg.record import DeviceInfo, EcgRecord, MachineMeasurements, PatientInfo
from ecg.render import render_png, render_svg
from ecg.statements import CriticalFinding, Statement

__all__ = [
    "STANDARD_LEADS",
    "Axes",
    "CriticalFinding",
    "CriticalThresholds",
    "CsvProfile",
    "DeviceInfo",
    "EcgAnalysis",
    "EcgFormatError",
    "EcgRecord",
    "Hrv",
    "Intervals",
    "LeadQuality",
    "MachineMeasurements",
    "PatientInfo",
    "QrsConfig",
    "StLevel",
    "Statement",
    "analyze",
    "classify_beats",
    "clean",
    "detect_qrs",
    "heart_rate_bpm",
    "hrv",
    "lead_quality",
    "read_ecg",
    "read_wfdb_record",
    "render_png",
    "render_svg",
    "sniff_format",
]
