"""Demo data of the imaging center: the CT scanner of the first township health center."""

from __future__ import annotations

from typing import Any

from consult.center import Work
from imaging import devices
from imaging.node_values import Operation

DEMO_DEVICE = "DEMO-CT"
DEMO_DEVICE_HOST = "127.0.0.1"
DEMO_MOVE_PORT = 11113
DEMO_INSTITUTION = "th-dongcheng"


async def seed(work: Work, demo: Any) -> None:
    """Register ``DEMO-CT`` at 127.0.0.1 for th-dongcheng, allowed every operation."""
    await devices.add(
        work,
        ae_title=DEMO_DEVICE,
        host=DEMO_DEVICE_HOST,
        port=DEMO_MOVE_PORT,
        institution_code=DEMO_INSTITUTION,
        operations=frozenset(Operation),
    )
