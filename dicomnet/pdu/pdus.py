"""The seven PDUs of the DICOM upper layer (PS3.8 §9.3), as plain frozen records.

They carry values only: :func:`dicomnet.pdu.encode_pdu` writes one (the whole PDU,
6-byte header included) and :func:`dicomnet.pdu.decode_pdu` reads one back. AE titles
are held without their space padding.
"""

from __future__ import annotations

from dataclasses import field

from dicomnet.pdu.constants import DICOM_APPLICATION_CONTEXT, PROTOCOL_VERSION, PDUType
from dicomnet.pdu.items import (
    PresentationContextAC,
    PresentationContextRQ,
    UserInformationItem,
)
from dicomnet.records import record

#: Bytes-like data a PDV can carry: decoding slices the received PDU without copying.
Bytes = bytes | bytearray | memoryview


@record()
class AAssociateRQ:
    """PS3.8 §9.3.2, PDU type 01H."""

    called_ae_title: str
    calling_ae_title: str
    presentation_contexts: tuple[PresentationContextRQ, ...] = ()
    user_information: UserInformationItem = field(default_factory=UserInformationItem)
    application_context: str = DICOM_APPLICATION_CONTEXT
    protocol_version: int = PROTOCOL_VERSION

    pdu_type = PDUType.A_ASSOCIATE_RQ


@record()
class AAssociateAC:
    """PS3.8 §9.3.3, PDU type 02H. The AE titles echo those of the request (PS3.8
    says they are not tested, but DCMTK and pynetdicom send them back)."""

    called_ae_title: str
    calling_ae_title: str
    presentation_contexts: tuple[PresentationContextAC, ...] = ()
    user_information: UserInformationItem = field(default_factory=UserInformationItem)
    application_context: str = DICOM_APPLICATION_CONTEXT
    protocol_version: int = PROTOCOL_VERSION

    pdu_type = PDUType.A_ASSOCIATE_AC


@record()
class AAssociateRJ:
    """PS3.8 §9.3.4, PDU type 03H. See :mod:`dicomnet.pdu.constants` for the codes."""

    result: int
    source: int
    reason: int

    pdu_type = PDUType.A_ASSOCIATE_RJ


@record()
class PDV:
    """PS3.8 §9.3.5.1: one presentation data value item.

    The message control header (PS3.8 Annex E.2) is held as two flags: bit 0 set means
    a command fragment (else data set), bit 1 set means the last fragment.
    """

    context_id: int
    is_command: bool
    is_last: bool
    data: Bytes

    @property
    def control_header(self) -> int:
        return (1 if self.is_command else 0) | (2 if self.is_last else 0)


@record()
class PDataTF:
    """PS3.8 §9.3.5, PDU type 04H: one or more PDVs."""

    pdvs: tuple[PDV, ...]

    pdu_type = PDUType.P_DATA_TF


@record()
class AReleaseRQ:
    """PS3.8 §9.3.6, PDU type 05H."""

    pdu_type = PDUType.A_RELEASE_RQ


@record()
class AReleaseRP:
    """PS3.8 §9.3.7, PDU type 06H."""

    pdu_type = PDUType.A_RELEASE_RP


@record()
class AAbort:
    """PS3.8 §9.3.8, PDU type 07H. ``source`` and ``reason`` are
    :class:`~dicomnet.pdu.constants.AbortSource` / ``AbortReason`` values."""

    source: int = 0
    reason: int = 0

    pdu_type = PDUType.A_ABORT


PDU = AAssociateRQ | AAssociateAC | AAssociateRJ | PDataTF | AReleaseRQ | AReleaseRP | AAbort
