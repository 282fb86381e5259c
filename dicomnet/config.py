"""Settings shared by clients and servers: timeouts and PDU sizes.

Kept apart from the association code so that the CLI, the server and the client can all
name the same defaults, and so the conformance statement can quote them.
"""

from __future__ import annotations

from dicomnet.records import record

#: Maximum P-DATA-TF PDU length we propose to receive (PS3.8 Annex D.1). Large PDUs mean
#: fewer Python-level iterations per byte; peers still send within their own limits.
DEFAULT_MAX_PDU_LENGTH = 1 << 20

#: Largest non-P-DATA PDU we read. An A-ASSOCIATE-RQ with 128 contexts of ten transfer
#: syntaxes each is about 40 KiB, and a user identity sub-item at most 128 KiB (two
#: fields with 16-bit lengths, PS3.7 D.3.3.7.1). A connection buffers up to this much
#: before it is an association, so it multiplies by the server's pending-connection
#: bound: kept near what a real request can need, not larger.
MAX_ASSOCIATION_PDU_LENGTH = 256 * 1024

#: Our own cap on PDUs we send when the peer says "no limit" (maximum length 0).
SEND_CAP_WHEN_UNLIMITED = 1 << 20

#: Largest received data set other than a C-STORE request's: a query identifier, an
#: N-SET modification list, N-ACTION or N-EVENT-REPORT information, any response's.
#: These are held in memory whole (a C-STORE data set can stream to a sink), so without
#: a bound of their own one peer sending a gigabyte-sized identifier holds twice that in
#: memory. A storage commitment request for 10,000 instances is about 1.5 MiB.
MAX_IDENTIFIER_SIZE = 16 << 20


@record()
class Timeouts:
    """Timeouts in seconds; ``None`` waits forever.

    - ``connect``: opening the TCP (and TLS) connection.
    - ``acse``: waiting for the peer's answer to A-ASSOCIATE-RQ and A-RELEASE-RQ.
    - ``dimse``: waiting for the response to a DIMSE request (between pending responses).
    - ``network``: no bytes at all from the peer for this long ends the association
      with an A-ABORT; it protects servers from peers that connect and go silent. A
      requestor waits without it while it has nothing outstanding: an idle client
      association waits for its application, not for the peer.
    - ``artim``: the PS3.8 ARTIM timer (Sta2 waiting for A-ASSOCIATE-RQ, Sta13 waiting
      for the peer to close).
    """

    connect: float | None = 30.0
    acse: float | None = 30.0
    dimse: float | None = None
    network: float | None = 60.0
    artim: float = 30.0
