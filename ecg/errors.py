"""Errors raised by the ECG core."""


class EcgFormatError(ValueError):
    """An ECG file could not be read: truncated, mis-declared or not an ECG at all.

    The message names the problem so that a clinic user can act on it.
    """


class EcgTooLong(EcgFormatError):
    """The recording (as declared, or as read) lasts longer than the center accepts.

    ``at_least`` says the reader stopped counting at the limit (a CSV export declares no length).
    """

    def __init__(self, duration_s: float, max_duration_s: float, *, at_least: bool = False) -> None:
        hours, limit = duration_s / 3600, max_duration_s / 3600
        zh, en = ("至少", "at least ") if at_least else ("", "")
        super().__init__(
            f"心电图时长{zh} {hours:.3g} 小时，超过上限 {limit:.3g} 小时 / "
            f"the recording lasts {en}{hours:.3g} h: at most {limit:.3g} h are accepted"
        )


class EcgTooLarge(EcgFormatError):
    """The file expands to more than the reader accepts (a zip bomb, or simply too big)."""

    @classmethod
    def expanded(cls, what: str, max_bytes: float) -> "EcgTooLarge":
        """A compressed file (a zip, a deflated DICOM data set) inflating past ``max_bytes``."""
        return cls(f"心电图文件解压后过大 / {what} expands to more than {_mib(max_bytes)} MiB")

    @classmethod
    def samples(cls, what: str, n_values: int, max_bytes: float) -> "EcgTooLarge":
        """A recording declaring more sample values than ``max_bytes`` hold at 16 bits each."""
        return cls(
            f"心电图采样数据过大（{n_values} 个采样值，上限 {_mib(max_bytes)} MiB）/ "
            f"{what} holds {n_values} sample values: more than {_mib(max_bytes)} MiB "
            "of 16-bit samples"
        )


def _mib(n_bytes: float) -> str:
    return f"{n_bytes / (1 << 20):.4g}"
