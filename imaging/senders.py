"""Who may send instances through which door (the rules the protocol adapters share)."""

from __future__ import annotations

from consult.errors import Forbidden
from consult.principal import Principal
from imaging.receiver import Origin


def stow_origin(principal: Principal) -> Origin:
    """Who a STOW-RS store comes from: only a clinic user stores instances, for the clinic it
    works at; the instances then go through the same patient/request matching as a device's
    C-STORE (:func:`consult.identity.match`)."""
    if not principal.is_clinic:
        raise Forbidden("instances are stored by clinics")
    return Origin(principal.institution_id, None, f"stow:{principal.username}"[:64])
