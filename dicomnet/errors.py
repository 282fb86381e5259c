"""Typed errors for dicomnet.

Every error that reaches a user derives from :class:`DicomNetError` and says what was
expected and what came, so that a log line is enough to understand a failure without a
packet capture. This module is a leaf: the sans-IO core (pdu, ul, acse, dimse) imports
it, so it must never import anything that does I/O.
"""

from __future__ import annotations


class DicomNetError(Exception):
    """Base class of every error raised by dicomnet."""


# -- wire format --------------------------------------------------------------------


class PDUError(DicomNetError):
    """Bytes from the network are not a valid PDU (PS3.8 §9.3).

    ``field`` names the PDU field or item that was wrong, so the upper layer can log it
    and answer with an A-ABORT (Evt19, "unrecognized or invalid PDU").
    """

    def __init__(self, message: str, *, field: str = "") -> None:
        self.field = field
        super().__init__(f"{field}: {message}" if field else message)


class PDUTooLargeError(PDUError):
    """A PDU header announces more bytes than the local maximum accepts."""

    def __init__(self, length: int, maximum: int, *, pdu_type: int) -> None:
        self.length = length
        self.maximum = maximum
        self.pdu_type = pdu_type
        super().__init__(
            f"PDU type 0x{pdu_type:02X} announces {length} bytes, more than the "
            f"local maximum of {maximum}",
            field="PDU-length",
        )


# -- upper layer --------------------------------------------------------------------


class ProtocolStateError(DicomNetError):
    """A local primitive was issued in a state where PS3.8 Table 9-10 does not allow it.

    This is a programming error in the caller (e.g. sending data before the association
    is established), never a reaction to bad input from the network.
    """


# -- association ----------------------------------------------------------------------


class AssociationError(DicomNetError):
    """The association could not be used as asked."""


class AssociationRejectedError(AssociationError):
    """The peer answered A-ASSOCIATE-RQ with A-ASSOCIATE-RJ (PS3.8 §9.3.4)."""

    def __init__(self, result: int, source: int, reason: int, description: str) -> None:
        self.result = result
        self.source = source
        self.reason = reason
        super().__init__(f"association rejected: {description}")


class AssociationAbortedError(AssociationError):
    """The association ended with A-ABORT or A-P-ABORT (PS3.8 §7.3, §7.4)."""

    def __init__(self, description: str, *, source: int | None = None,
                 reason: int | None = None) -> None:
        self.source = source
        self.reason = reason
        super().__init__(description)


class AssociationReleasedError(AssociationError):
    """An operation was attempted on an association that is released or closing."""


class NegotiationError(AssociationError):
    """Nothing usable was negotiated for an operation (e.g. no accepted context)."""


class DIMSEError(DicomNetError):
    """A DIMSE message was malformed or unexpected (PS3.7)."""


class DicomTimeoutError(DicomNetError, TimeoutError):
    """A configured ACSE, DIMSE or network timeout expired.

    It is also a builtin :class:`TimeoutError`, so ``except TimeoutError`` catches it.
    """

    def __init__(self, what: str, seconds: float) -> None:
        self.what = what
        self.seconds = seconds
        super().__init__(f"{what} timed out after {seconds:g} s")
