"""Interpretation statements: a code, English and Chinese text, and the values behind it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

Value = float | int | str | bool | None | list[str] | list[float]

TEXTS = MappingProxyType(
    {
        "SR": ("Sinus rhythm", "窦性心律"),
        "SB": ("Sinus bradycardia", "窦性心动过缓"),
        "STACH": ("Sinus tachycardia", "窦性心动过速"),
        "AF": ("Atrial fibrillation", "心房颤动"),
        "AFL": ("Atrial flutter", "心房扑动"),
        "NONSINUS": (
            "Regular rhythm without visible P waves (junctional or ectopic)",
            "未见明确P波的规则心律（交界性或异位心律）",
        ),
        "BRADY": ("Bradycardia", "心动过缓"),
        "TACHY": ("Tachycardia", "心动过速"),
        "SVPB": ("Supraventricular premature beats", "室上性早搏"),
        "PVC": ("Ventricular premature beats", "室性早搏"),
        "VT": (
            "Ventricular tachycardia (3 or more consecutive ventricular beats)",
            "室性心动过速（连续3个及以上室性搏动）",
        ),
        "PAUSE": ("Pause", "长RR间歇（停搏）"),
        "AVB1": ("First-degree AV block", "一度房室传导阻滞"),
        "RBBB": ("Right bundle branch block pattern", "右束支传导阻滞图形"),
        "LBBB": ("Left bundle branch block pattern", "左束支传导阻滞图形"),
        "IVCD": (
            "Wide QRS: nonspecific intraventricular conduction delay",
            "QRS增宽：非特异性室内传导延迟",
        ),
        "LQT": ("Prolonged QT interval", "QT间期延长"),
        "LAD": ("Left axis deviation", "电轴左偏"),
        "RAD": ("Right axis deviation", "电轴右偏"),
        "XAXIS": ("Extreme (northwest) axis", "电轴极度偏移（无人区电轴）"),
        "LOWV": ("Low QRS voltage", "QRS低电压"),
        "STEMI": (
            "ST elevation meeting STEMI criteria (4th universal definition of MI); "
            "compare with a previous ECG",
            "ST段抬高达到STEMI标准（第四版心肌梗死通用定义），请与既往心电图对比",
        ),
        # -- 12-lead morphology (wt-ecg12) --
        "IRBBB": ("Incomplete right bundle branch block", "不完全性右束支传导阻滞"),
        "ILBBB": ("Incomplete left bundle branch block", "不完全性左束支传导阻滞"),
        "LAFB": ("Left anterior fascicular block", "左前分支传导阻滞"),
        "LPFB": ("Left posterior fascicular block", "左后分支传导阻滞"),
        "WPW": (
            "Ventricular pre-excitation (short PR, delta wave)",
            "心室预激（PR间期缩短、delta波）",
        ),
        "LVH": ("Left ventricular hypertrophy by voltage criteria", "左心室肥厚（电压标准）"),
        "OLDMI": (
            "Pathological Q waves: possible prior myocardial infarction",
            "病理性Q波：可能为陈旧性心肌梗死",
        ),
        "STEMI_POST": (
            "ST depression V1-V3: possible posterior STEMI (record V7-V9)",
            "V1-V3导联ST段压低：可能为后壁STEMI（请加做V7-V9导联）",
        ),
        "STEMI_LBBB": (
            "LBBB or ventricular pacing with modified Sgarbossa criteria for acute myocardial "
            "infarction",
            "左束支传导阻滞或心室起搏伴改良Sgarbossa急性心肌梗死标准阳性",
        ),
        "PACED": ("Paced rhythm (pacemaker spikes)", "起搏心律（可见起搏脉冲）"),
        "ST_UNREADABLE": (
            "ST segment not assessable (P wave on the ST segment at this rate)",
            "ST段无法评估（此心率下P波重叠于ST段）",
        ),
        # -- end 12-lead morphology --
        "NOQRS": ("No QRS complexes detected", "未检出QRS波群"),
        "UNREADABLE": ("Signal quality too poor to interpret", "信号质量差，无法判读"),
        "POORLEADS": (
            "Some leads unusable (flat, saturated or noisy)",
            "部分导联信号不可用（平直、饱和或噪声）",
        ),
        "SHORT": ("Recording too short for rhythm analysis", "记录时间过短，无法进行节律分析"),
        "HR_LOW": ("Extreme bradycardia", "极度心动过缓"),
        "HR_HIGH": ("Extreme tachycardia", "极度心动过速"),
        "LONG_PAUSE": ("Long pause", "长间歇"),
        "AF_RVR": ("Atrial fibrillation with rapid ventricular response", "心房颤动伴快速心室率"),
        # -- rhythm episodes (wt-ecg) --
        "AVB2_2TO1": ("Second-degree AV block with 2:1 conduction", "二度房室传导阻滞（2:1下传）"),
        "AVB2_MOBITZ1": (
            "Second-degree AV block, Mobitz I (Wenckebach)", "二度I型房室传导阻滞（文氏型）"
        ),
        "AVB2_MOBITZ2": ("Second-degree AV block, Mobitz II", "二度II型房室传导阻滞"),
        "AVB3": ("Third-degree (complete) AV block", "三度（完全性）房室传导阻滞"),
    }
)  # fmt: skip


@dataclass(frozen=True)
class Statement:
    """One interpretation statement with the measured values that support it."""

    code: str
    values: Mapping[str, Value] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.code not in TEXTS:
            raise ValueError(f"unknown statement code {self.code!r}")

    @property
    def en(self) -> str:
        """English text."""
        return TEXTS[self.code][0]

    @property
    def zh(self) -> str:
        """Chinese text."""
        return TEXTS[self.code][1]

    def to_dict(self) -> dict[str, object]:
        """JSON-safe form."""
        return {"code": self.code, "en": self.en, "zh": self.zh, "values": dict(self.values)}


@dataclass(frozen=True)
class CriticalFinding:
    """A finding that needs a clinician now; ``severity`` is ``critical`` or ``urgent``."""

    code: str
    severity: str
    values: Mapping[str, Value] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.code not in TEXTS:
            raise ValueError(f"unknown finding code {self.code!r}")
        if self.severity not in ("critical", "urgent"):
            raise ValueError(f"severity must be 'critical' or 'urgent', not {self.severity!r}")

    def to_dict(self) -> dict[str, object]:
        """JSON-safe form."""
        en, zh = TEXTS[self.code]
        return {
            "code": self.code, "severity": self.severity, "en": en, "zh": zh,
            "values": dict(self.values),
        }  # fmt: skip
