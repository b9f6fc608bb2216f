"""Errors raised by the ECG core."""


class EcgFormatError(ValueError):
    """An ECG file could not be read: truncated, mis-declared or not an ECG at all.

    The message names the problem so that a clinic user can act on it.
    """


class EcgTooLarge(EcgFormatError):
    """The file expands to more than the reader accepts (a zip bomb, or simply too big)."""
