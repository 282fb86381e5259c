"""Numeric codes carried by PDUs (PS3.8 §9.3), as enums with the standard's names.

They are IntEnums so that a decoded value that the standard reserves can still be kept
as a plain int where the standard says "not tested", while code that builds PDUs can say
what it means.
"""

from __future__ import annotations

from enum import IntEnum

#: PS3.7 Annex A.2.1: the one application context name DICOM defines.
DICOM_APPLICATION_CONTEXT = "1.2.840.10008.3.1.1.1"

#: PS3.8 §9.3.2: bit 0 of the protocol version field means "version 1".
PROTOCOL_VERSION = 0x0001


class PDUType(IntEnum):
    """PS3.8 §9.3.1, Table 9-11: the first byte of every PDU."""

    A_ASSOCIATE_RQ = 0x01
    A_ASSOCIATE_AC = 0x02
    A_ASSOCIATE_RJ = 0x03
    P_DATA_TF = 0x04
    A_RELEASE_RQ = 0x05
    A_RELEASE_RP = 0x06
    A_ABORT = 0x07


class ItemType(IntEnum):
    """PS3.8 §9.3.2 and PS3.7 Annex D.3.3: item and sub-item type codes."""

    APPLICATION_CONTEXT = 0x10
    PRESENTATION_CONTEXT_RQ = 0x20
    PRESENTATION_CONTEXT_AC = 0x21
    ABSTRACT_SYNTAX = 0x30
    TRANSFER_SYNTAX = 0x40
    USER_INFORMATION = 0x50
    MAXIMUM_LENGTH = 0x51
    IMPLEMENTATION_CLASS_UID = 0x52
    ASYNC_OPERATIONS_WINDOW = 0x53
    ROLE_SELECTION = 0x54
    IMPLEMENTATION_VERSION_NAME = 0x55
    SOP_CLASS_EXTENDED_NEGOTIATION = 0x56
    SOP_CLASS_COMMON_EXTENDED_NEGOTIATION = 0x57
    USER_IDENTITY_RQ = 0x58
    USER_IDENTITY_AC = 0x59


class RejectResult(IntEnum):
    """PS3.8 §9.3.4, Table 9-21: A-ASSOCIATE-RJ result field."""

    REJECTED_PERMANENT = 1
    REJECTED_TRANSIENT = 2


class RejectSource(IntEnum):
    """PS3.8 §9.3.4, Table 9-21: A-ASSOCIATE-RJ source field."""

    SERVICE_USER = 1
    SERVICE_PROVIDER_ACSE = 2
    SERVICE_PROVIDER_PRESENTATION = 3


class UserRejectReason(IntEnum):
    """PS3.8 Table 9-21: reasons when the source is the DICOM UL service-user (1)."""

    NO_REASON = 1
    APPLICATION_CONTEXT_NOT_SUPPORTED = 2
    CALLING_AE_NOT_RECOGNIZED = 3
    CALLED_AE_NOT_RECOGNIZED = 7


class ACSERejectReason(IntEnum):
    """PS3.8 Table 9-21: reasons when the source is the service-provider, ACSE (2)."""

    NO_REASON = 1
    PROTOCOL_VERSION_NOT_SUPPORTED = 2


class PresentationRejectReason(IntEnum):
    """PS3.8 Table 9-21: reasons when the source is the service-provider,
    presentation (3)."""

    TEMPORARY_CONGESTION = 1
    LOCAL_LIMIT_EXCEEDED = 2


def describe_reject(result: int, source: int, reason: int) -> str:
    """Say in words what an A-ASSOCIATE-RJ means (PS3.8 Table 9-21)."""
    results = {1: "rejected-permanent", 2: "rejected-transient"}
    texts = {
        (1, 1): "service-user: no reason given",
        (1, 2): "service-user: application context name not supported",
        (1, 3): "service-user: calling AE title not recognized",
        (1, 7): "service-user: called AE title not recognized",
        (2, 1): "service-provider (ACSE): no reason given",
        (2, 2): "service-provider (ACSE): protocol version not supported",
        (3, 1): "service-provider (presentation): temporary congestion",
        (3, 2): "service-provider (presentation): local limit exceeded",
    }
    what = texts.get((source, reason), f"source {source}, reason {reason}")
    return f"{results.get(result, f'result {result}')}, {what}"


class AbortSource(IntEnum):
    """PS3.8 §9.3.8, Table 9-26: A-ABORT source field."""

    SERVICE_USER = 0
    RESERVED = 1
    SERVICE_PROVIDER = 2


class AbortReason(IntEnum):
    """PS3.8 §9.3.8, Table 9-26: A-ABORT reason/diag. (significant when the source is
    the service-provider)."""

    NOT_SPECIFIED = 0
    UNRECOGNIZED_PDU = 1
    UNEXPECTED_PDU = 2
    UNRECOGNIZED_PDU_PARAMETER = 4
    UNEXPECTED_PDU_PARAMETER = 5
    INVALID_PDU_PARAMETER_VALUE = 6


def describe_abort(source: int, reason: int) -> str:
    """Say in words what an A-ABORT means (PS3.8 Table 9-26)."""
    if source == AbortSource.SERVICE_PROVIDER:
        try:
            why = AbortReason(reason).name.lower().replace("_", " ")
        except ValueError:
            why = f"reason {reason}"
        return f"aborted by the peer's service provider: {why}"
    return "aborted by the peer (service-user)"


class ContextResult(IntEnum):
    """PS3.8 §9.3.3.2, Table 9-18: presentation context Result/Reason."""

    ACCEPTANCE = 0
    USER_REJECTION = 1
    NO_REASON = 2
    ABSTRACT_SYNTAX_NOT_SUPPORTED = 3
    TRANSFER_SYNTAXES_NOT_SUPPORTED = 4


class UserIdentityType(IntEnum):
    """PS3.7 Annex D.3.3.7.1, Table D.3-14: User-Identity-Type."""

    USERNAME = 1
    USERNAME_AND_PASSCODE = 2
    KERBEROS = 3
    SAML = 4
    JWT = 5
