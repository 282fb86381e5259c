"""What the upper layer state machine asks its I/O layer to do.

The sans-IO machine never touches a socket or a clock: each action of PS3.8 §9.2.2
becomes a short list of these values, in the order the I/O layer must perform them.
"Issue ... primitive" actions become indications/confirmations for the local user;
"send", "close" and "ARTIM" actions become requests to the transport and the timer.
"""

from __future__ import annotations

from dicomnet.pdu.pdus import PDU, AAbort, AAssociateAC, AAssociateRJ, AAssociateRQ, PDataTF
from dicomnet.records import record

__all__ = [
    "AbortIndication",
    "AssociateAccepted",
    "AssociateIndication",
    "AssociateRejected",
    "CloseTransport",
    "ConnectTransport",
    "DataIndication",
    "Output",
    "ReleaseConfirmed",
    "ReleaseIndication",
    "SendPDU",
    "StartARTIM",
    "StopARTIM",
]


# -- requests to the transport and the timer ------------------------------------------


@record()
class ConnectTransport:
    """AE-1: "Issue TRANSPORT CONNECT request primitive to local transport service".

    The I/O layer opens the TCP (or TLS) connection and reports the outcome as Evt2
    (:meth:`~dicomnet.ul.UpperLayer.transport_connected`) or Evt17 (closed).
    """


@record()
class SendPDU:
    """Write one PDU to the peer (AE-2, AE-6 reject path, AE-7, AE-8, DT-1, AR-1, AR-4,
    AR-7, AR-9, AA-1, AA-7, AA-8)."""

    pdu: PDU


@record()
class CloseTransport:
    """Close the transport connection (AE-4, AR-3, AA-2, AA-3).

    Closing is the last thing of its action: every PDU listed before it must be written
    first.
    """


@record()
class StartARTIM:
    """Start the ARTIM timer (PS3.8 §9.1.5), or restart it if it is running.

    The clock lives in the I/O layer; when it runs out the I/O layer reports Evt18
    (:meth:`~dicomnet.ul.UpperLayer.artim_expired`).
    """


@record()
class StopARTIM:
    """Stop the ARTIM timer. Must be a no-op if the timer is not running: AA-2 says
    "Stop ARTIM timer if running", and the machine does not track the clock."""


# -- primitives for the local user --------------------------------------------------


@record()
class AssociateIndication:
    """AE-6, acceptable request: "issue A-ASSOCIATE indication primitive".

    The local user answers with :meth:`~dicomnet.ul.UpperLayer.associate_accept`
    (Evt7) or :meth:`~dicomnet.ul.UpperLayer.associate_reject` (Evt8).
    """

    request: AAssociateRQ


@record()
class AssociateAccepted:
    """AE-3: "Issue A-ASSOCIATE confirmation (accept) primitive"."""

    response: AAssociateAC


@record()
class AssociateRejected:
    """AE-4: "Issue A-ASSOCIATE confirmation (reject) primitive" (the transport is then
    closed)."""

    response: AAssociateRJ


@record()
class DataIndication:
    """DT-2 ("Send P-DATA indication primitive") and AR-6 ("Issue P-DATA indication",
    data that arrives after we asked to release)."""

    pdu: PDataTF


@record()
class ReleaseIndication:
    """AR-2 (``collision=False``) and AR-8 (``collision=True``): "Issue A-RELEASE
    indication primitive".

    The local user answers with :meth:`~dicomnet.ul.UpperLayer.release_response`
    (Evt14). In a collision the acceptor side (now Sta10) must first wait for the peer's
    A-RELEASE-RP (Evt13, AR-10) before it may answer.
    """

    collision: bool


@record()
class ReleaseConfirmed:
    """AR-3 and AR-10: "Issue A-RELEASE confirmation primitive"."""


@record()
class AbortIndication:
    """A-ABORT or A-P-ABORT indication for the local user (AA-3, AA-4, AA-8).

    - AA-3, an A-ABORT PDU came: ``abort`` is that PDU, ``provider`` is whether its
      source is the service-provider (2), i.e. A-P-ABORT rather than A-ABORT.
    - AA-4, the transport closed under an association: ``abort=None``,
      ``provider=True`` (A-P-ABORT).
    - AA-8, we received a PDU that is unexpected, unrecognized or invalid: ``abort`` is
      the A-ABORT PDU we sent to the peer, ``provider=True`` (A-P-ABORT).
    """

    abort: AAbort | None
    provider: bool


Output = (ConnectTransport | SendPDU | CloseTransport | StartARTIM | StopARTIM
          | AssociateIndication | AssociateAccepted | AssociateRejected | DataIndication
          | ReleaseIndication | ReleaseConfirmed | AbortIndication)
"""Any one thing the machine asks of the I/O layer."""
