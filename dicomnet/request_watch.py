"""Whether a DIMSE message of ours reached the connection: what makes a retry safe.

:meth:`dicomnet.AssociationPool.run` may run a request again on a new association
only if the peer cannot have seen it the first time, i.e. if no P-DATA-TF PDU
(PS3.8 §9.3.5, the only PDU that carries DIMSE messages) was handed to the
transport while the request was being made. A write that was attempted counts, even
if it failed: some of its bytes may have gone out.

The association driver does not count its writes, so the watch wraps the one method
every PDU write goes through, on this association object only, for the duration of
one run. When the driver reports requests sent (a count, or an event), this module
is the one place to change.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from dicomnet.association import Association
from dicomnet.pdu import PDUType

__all__ = ["RequestWatch"]

_WRITE_METHOD = "_send_bytes"  # Association's write of one or more whole PDUs
_P_DATA_TF = bytes([PDUType.P_DATA_TF])


class RequestWatch:
    """Notes whether a P-DATA-TF PDU is written on ``association`` until :meth:`stop`.

    If the association has no such method to wrap (the driver changed), the watch
    cannot tell, and says a request was sent: a retry is then never taken for safe.
    """

    def __init__(self, association: Association) -> None:
        self._association = association
        original: Callable[[bytes | bytearray], Awaitable[None]] | None = \
            getattr(association, _WRITE_METHOD, None)
        self.sent = original is None
        self._wrapped = False
        if original is None:
            return

        def write(data: bytes | bytearray) -> Awaitable[None]:
            # A write on a closed association raises before anything goes out.
            if bytes(data[:1]) == _P_DATA_TF and not association.is_closed:
                self.sent = True
            return original(data)

        setattr(association, _WRITE_METHOD, write)  # this object only, not the class
        self._wrapped = True

    def stop(self) -> None:
        """Stop watching: the association writes through its own method again."""
        if self._wrapped:
            delattr(self._association, _WRITE_METHOD)
            self._wrapped = False
