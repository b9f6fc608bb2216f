"""The size of the DIMSE message an association is receiving, counted as its P-DATA arrives.

pynetdicom keeps a message's fragments in memory until its last one: a peer that sends a data
set without end (or a command set: none is more than a few hundred bytes) would be buffered
until the process runs out of memory. The node counts them as they arrive and aborts the
association once a message passes its limit (``dicom_max_data_set_mb``).
"""

from __future__ import annotations

from typing import Any

COMMAND_SET_MAX = 1024 * 1024
"""The largest command set taken (a few hundred bytes in practice; PS3.7 Annex E)."""


class MessageTooLarge(ValueError):
    """A DIMSE message whose data set (or command set) passes the node's limit."""


class MessageSize:
    """The bytes of the DIMSE message in progress on one association, as its PDVs arrive.

    Fragments of a command set and of a data set are counted apart; each count starts again
    after its last fragment (message control header bit 1, PS3.8 E.2).
    """

    def __init__(self) -> None:
        self.data_set = 0
        self.command_set = 0

    def add(self, values: list[list[Any]], max_data_set: int) -> None:
        """Count ``[context ID, control header + fragment]`` items.

        Raises
        ------
        MessageTooLarge
            The data set passes ``max_data_set`` bytes (0: no limit), or the command set
            :data:`COMMAND_SET_MAX`.
        """
        for _, fragment in values:
            control, size = fragment[0], len(fragment) - 1
            if control & 1:
                self.command_set = self._grown(self.command_set, size, COMMAND_SET_MAX, control)
            else:
                self.data_set = self._grown(self.data_set, size, max_data_set, control)

    @staticmethod
    def _grown(count: int, size: int, limit: int, control: int) -> int:
        count += size
        if limit and count > limit:
            kind = "command set" if control & 1 else "data set"
            raise MessageTooLarge(f"a {kind} of more than {limit} bytes")
        return 0 if control & 2 else count
