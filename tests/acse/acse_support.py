"""Shared UIDs and small helpers for the tests of dicomnet.acse."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dicomnet.acse import build_request
from dicomnet.pdu import AAssociateAC, AAssociateRQ, decode_pdu, encode_pdu

VERIFICATION = "1.2.840.10008.1.1"
CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
MR_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
STORAGE_COMMITMENT = "1.2.840.10008.1.20.1"
ENHANCED_SR = "1.2.840.10008.5.1.4.1.1.88.22"
PROCEDURE_LOG = "1.2.840.10008.5.1.4.1.1.88.40"
STORAGE_SERVICE_CLASS = "1.2.840.10008.4.2"

IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
EXPLICIT_BE = "1.2.840.10008.1.2.2"
DEFLATED_LE = "1.2.840.10008.1.2.1.99"
JPEG_BASELINE = "1.2.840.10008.1.2.4.50"

ABSTRACT_SYNTAXES = (VERIFICATION, CT_STORAGE, MR_STORAGE, STORAGE_COMMITMENT, ENHANCED_SR,
                     PROCEDURE_LOG)
TRANSFER_SYNTAXES = (IMPLICIT_LE, EXPLICIT_LE, EXPLICIT_BE, DEFLATED_LE, JPEG_BASELINE)


def request(contexts: Sequence[tuple[str, Sequence[str]]] | None = None, *,
            calling: str = "SCU", called: str = "DICOMNET", max_pdu_length: int = 16384,
            roles: Mapping[str, tuple[bool, bool]] | None = None,
            **kwargs: Any) -> AAssociateRQ:
    """build_request with test defaults: one Verification context by default."""
    if contexts is None:
        contexts = [(VERIFICATION, [IMPLICIT_LE])]
    return build_request(calling_ae_title=calling, called_ae_title=called,
                         contexts=contexts, max_pdu_length=max_pdu_length, roles=roles,
                         **kwargs)


def wire_rq(pdu: AAssociateRQ) -> AAssociateRQ:
    """``pdu`` after a trip through the codec, as the acceptor would see it."""
    decoded = decode_pdu(encode_pdu(pdu))
    assert isinstance(decoded, AAssociateRQ)
    return decoded


def wire_ac(pdu: AAssociateAC) -> AAssociateAC:
    """``pdu`` after a trip through the codec, as the requestor would see it."""
    decoded = decode_pdu(encode_pdu(pdu))
    assert isinstance(decoded, AAssociateAC)
    return decoded
