"""check_request and the A-ASSOCIATE-RJ constants (PS3.8 §9.3.4, Table 9-21)."""

from __future__ import annotations

import dataclasses

import pytest
from acse_support import request, wire_rq

from dicomnet.acse import (
    REJECT_APPLICATION_CONTEXT_NOT_SUPPORTED,
    REJECT_CALLED_AE_NOT_RECOGNIZED,
    REJECT_CALLING_AE_NOT_RECOGNIZED,
    REJECT_LOCAL_LIMIT_EXCEEDED,
    REJECT_NO_REASON,
    REJECT_PROTOCOL_VERSION_NOT_SUPPORTED,
    REJECT_TEMPORARY_CONGESTION,
    AcceptorPolicy,
    check_request,
    reject,
)
from dicomnet.pdu import AAssociateRJ, AAssociateRQ, decode_pdu, encode_pdu


def _rq(calling: str = "SCU", called: str = "DICOMNET",
        application_context: str | None = None) -> AAssociateRQ:
    """A request as the acceptor sees it (through the codec), titles set verbatim."""
    rq = wire_rq(request())
    rq = dataclasses.replace(rq, calling_ae_title=calling, called_ae_title=called)
    if application_context is not None:
        rq = dataclasses.replace(rq, application_context=application_context)
    return rq


@pytest.mark.parametrize(("rj", "expected"), [
    (REJECT_NO_REASON, (1, 1, 1)),
    (REJECT_APPLICATION_CONTEXT_NOT_SUPPORTED, (1, 1, 2)),
    (REJECT_CALLING_AE_NOT_RECOGNIZED, (1, 1, 3)),
    (REJECT_CALLED_AE_NOT_RECOGNIZED, (1, 1, 7)),
    (REJECT_PROTOCOL_VERSION_NOT_SUPPORTED, (1, 2, 2)),
    (REJECT_TEMPORARY_CONGESTION, (2, 3, 1)),
    (REJECT_LOCAL_LIMIT_EXCEEDED, (2, 3, 2)),
])
def test_reject_constants_match_table_9_21(rj: AAssociateRJ,
                                           expected: tuple[int, int, int]) -> None:
    assert (rj.result, rj.source, rj.reason) == expected
    decoded = decode_pdu(encode_pdu(rj))
    assert decoded == rj
    assert isinstance(decoded, AAssociateRJ)


def test_reject_builds_plain_ints() -> None:
    rj = reject(2, 3, 1)
    assert rj == AAssociateRJ(2, 3, 1)
    assert type(rj.result) is int


def test_a_matching_request_passes() -> None:
    assert check_request(_rq(), AcceptorPolicy()) is None


@pytest.mark.parametrize("context", ["1.2.840.10008.3.1.1.2", "1.2.3", ""])
def test_application_context_other_than_dicom_is_rejected(context: str) -> None:
    rj = check_request(_rq(application_context=context), AcceptorPolicy())
    assert rj is not None
    assert (rj.result, rj.source, rj.reason) == (1, 1, 2)


def test_application_context_is_checked_before_ae_titles() -> None:
    policy = AcceptorPolicy(ae_title="OTHER", allowed_calling_ae_titles=frozenset())
    rj = check_request(_rq(application_context="1.2.3"), policy)
    assert rj == REJECT_APPLICATION_CONTEXT_NOT_SUPPORTED


@pytest.mark.parametrize("called", ["OTHER", "dicomnet", "DICOMNET2", "DICOM NET"])
def test_called_ae_mismatch_is_rejected(called: str) -> None:
    rj = check_request(_rq(called=called), AcceptorPolicy(ae_title="DICOMNET"))
    assert rj is not None
    assert (rj.result, rj.source, rj.reason) == (1, 1, 7)


@pytest.mark.parametrize("called", ["OTHER", "ANY-SCP", "dicomnet"])
def test_called_ae_mismatch_is_ignored_when_not_required(called: str) -> None:
    policy = AcceptorPolicy(ae_title="DICOMNET", require_called_ae_title=False)
    assert check_request(_rq(called=called), policy) is None


@pytest.mark.parametrize(("called", "ours"), [
    ("DICOMNET", "DICOMNET"),
    ("DICOMNET  ", "DICOMNET"),
    ("  DICOMNET", "DICOMNET"),
    ("DICOMNET", "DICOMNET        "),
    (" DICOMNET ", "  DICOMNET"),
])
def test_called_ae_comparison_ignores_padding(called: str, ours: str) -> None:
    assert check_request(_rq(called=called), AcceptorPolicy(ae_title=ours)) is None


def test_called_ae_padding_on_the_wire_is_ignored() -> None:
    # A peer that pads the title to 16 characters (PS3.8 §9.3.2) is still recognised.
    rq = request(called="DICOMNET        ")
    assert check_request(wire_rq(rq), AcceptorPolicy(ae_title="DICOMNET")) is None


@pytest.mark.parametrize(("calling", "allowed", "ok"), [
    ("SCU", None, True),  # None: anybody
    ("SCU", frozenset({"SCU"}), True),
    ("SCU", frozenset({"A", "SCU", "B"}), True),
    ("SCU", frozenset(), False),
    ("SCU", frozenset({"OTHER"}), False),
    ("scu", frozenset({"SCU"}), False),  # AE titles are case-sensitive
    ("SCU  ", frozenset({"SCU"}), True),
    ("  SCU", frozenset({"SCU"}), True),
    ("SCU", frozenset({"SCU  "}), True),
    ("SCU", frozenset({" SCU "}), True),
])
def test_calling_ae_allow_list(calling: str, allowed: frozenset[str] | None,
                               ok: bool) -> None:
    rj = check_request(_rq(calling=calling),
                       AcceptorPolicy(allowed_calling_ae_titles=allowed))
    if ok:
        assert rj is None
    else:
        assert rj is not None
        assert (rj.result, rj.source, rj.reason) == (1, 1, 3)


def test_called_ae_is_checked_before_calling_ae() -> None:
    policy = AcceptorPolicy(ae_title="DICOMNET", allowed_calling_ae_titles=frozenset())
    assert check_request(_rq(called="OTHER"), policy) == REJECT_CALLED_AE_NOT_RECOGNIZED
    assert check_request(_rq(), policy) == REJECT_CALLING_AE_NOT_RECOGNIZED


def test_calling_ae_checked_even_when_called_ae_is_not_required() -> None:
    policy = AcceptorPolicy(require_called_ae_title=False,
                            allowed_calling_ae_titles=frozenset({"GOOD"}))
    assert check_request(_rq(calling="BAD", called="X"), policy) == \
        REJECT_CALLING_AE_NOT_RECOGNIZED
    assert check_request(_rq(calling="GOOD", called="X"), policy) is None
