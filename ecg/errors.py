"""Errors raised by the ECG core."""


class EcgFormatError(ValueError):
    """An ECG file could not be read: truncated, mis-declared or not an ECG at all.

    The message names the problem so that a clinic user can act on it.
    """


class EcgTooLong(EcgFormatError):
    """The recording (as declared, or as read) lasts longer than the center accepts."""

    def __init__(self, duration_s: float, max_duration_s: float) -> None:
        hours, limit = duration_s / 3600, max_duration_s / 3600
        super().__init__(
            f"心电图时长 {hours:.3g} 小时，超过上限 {limit:.3g} 小时 / "
            f"the recording lasts {hours:.3g} h: at most {limit:.3g} h are accepted"
        )


class EcgTooLarge(EcgFormatError):
    """The file expands to more than the reader accepts (a zip bomb, or simply too big)."""
