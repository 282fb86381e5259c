"""Configuration mistakes fail where they are made, policies are values, and the
requestor holds an acceptor to what it proposed (PS3.7 D.3.3, PS3.8 Annex D.1)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import pytest
from acse_support import (
    CT_STORAGE,
    ENHANCED_SR,
    EXPLICIT_LE,
    IMPLICIT_LE,
    MR_STORAGE,
    PROCEDURE_LOG,
    STORAGE_SERVICE_CLASS,
    VERIFICATION,
    request,
    wire_ac,
    wire_rq,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from dicomnet.acse import AcceptorPolicy, interpret_accept, negotiate
from dicomnet.acse.limits import min_window
from dicomnet.pdu import (
    AAssociateAC,
    AAssociateRQ,
    AsyncOperationsWindowSubItem,
    ContextResult,
    ImplementationClassUIDSubItem,
    MaximumLengthSubItem,
    PresentationContextAC,
    RoleSelectionSubItem,
    SOPClassCommonExtendedNegotiationSubItem,
    SOPClassExtendedNegotiationSubItem,
    UserIdentityACSubItem,
    UserInformationItem,
    UserSubItem,
)

ACCEPT = ContextResult.ACCEPTANCE


# -- build_request refuses what could not go on the wire ---------------------------------


@pytest.mark.parametrize("kwargs", [
    pytest.param({"max_pdu_length": -1}, id="max-pdu-negative"),
    pytest.param({"max_pdu_length": 1 << 32}, id="max-pdu-over-32-bits"),
    pytest.param({"async_window": (-1, 1)}, id="window-invoked-negative"),
    pytest.param({"async_window": (1, 0x10000)}, id="window-performed-over-16-bits"),
    pytest.param({"implementation_version_name": "V" * 17}, id="version-name-17-chars"),
    pytest.param({"implementation_version_name": "V\\1"}, id="version-name-backslash"),
    pytest.param({"implementation_version_name": "VÉ"}, id="version-name-non-ascii"),
    pytest.param({"implementation_class_uid": ""}, id="class-uid-empty"),
    pytest.param({"implementation_class_uid": "1." * 32 + "1"}, id="class-uid-65-chars"),
    pytest.param({"implementation_class_uid": "1.2.abc"}, id="class-uid-letters"),
    pytest.param({"contexts": [("", [IMPLICIT_LE])]}, id="abstract-syntax-empty"),
    pytest.param({"contexts": [("CT Image Storage", [IMPLICIT_LE])]}, id="abstract-name"),
    pytest.param({"contexts": [(CT_STORAGE, IMPLICIT_LE)]}, id="transfer-syntax-string"),
    pytest.param({"contexts": [(CT_STORAGE, [IMPLICIT_LE, ""])]}, id="transfer-syntax-empty"),
    pytest.param({"roles": {"storage": (True, True)}}, id="role-sop-class-not-uid"),
    pytest.param({"extended": {"1.2.x": b"\x01"}}, id="extended-sop-class-not-uid"),
])
def test_build_request_refuses_values_that_do_not_fit(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        request(**kwargs)


@pytest.mark.parametrize("kwargs", [
    pytest.param({"max_pdu_length": 0}, id="max-pdu-unlimited"),
    pytest.param({"max_pdu_length": 0xFFFFFFFF}, id="max-pdu-largest"),
    pytest.param({"async_window": (0, 0xFFFF)}, id="window-extremes"),
    pytest.param({"implementation_version_name": "V" * 16}, id="version-name-16-chars"),
    pytest.param({"implementation_class_uid": "1." * 31 + "12"}, id="class-uid-64-chars"),
])
def test_build_request_accepts_the_limits_themselves(kwargs: dict[str, Any]) -> None:
    rq = request(**kwargs)
    assert wire_rq(rq) == rq


def test_build_request_error_names_what_is_wrong() -> None:
    with pytest.raises(ValueError, match="transfer syntax"):
        request([(CT_STORAGE, IMPLICIT_LE)])
    with pytest.raises(ValueError, match="maximum PDU length"):
        request(max_pdu_length=-5)


# -- AcceptorPolicy is a checked value ----------------------------------------------------


@pytest.mark.parametrize("kwargs", [
    pytest.param({"ae_title": ""}, id="ae-title-empty"),
    pytest.param({"ae_title": "A" * 17}, id="ae-title-17-chars"),
    pytest.param({"ae_title": "A\\B"}, id="ae-title-backslash"),
    pytest.param({"max_pdu_length": -1}, id="max-pdu-negative"),
    pytest.param({"max_pdu_length": 1 << 32}, id="max-pdu-over-32-bits"),
    pytest.param({"max_operations_invoked": 0x10000}, id="invoked-over-16-bits"),
    pytest.param({"max_operations_performed": -1}, id="performed-negative"),
    pytest.param({"implementation_class_uid": "uid"}, id="class-uid-not-uid"),
    pytest.param({"implementation_version_name": "X" * 17}, id="version-name-17-chars"),
    pytest.param({"contexts": {VERIFICATION: IMPLICIT_LE}}, id="syntaxes-as-string"),
    pytest.param({"any_abstract_syntax": IMPLICIT_LE}, id="any-syntaxes-as-string"),
])
def test_policy_refuses_values_that_do_not_fit(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        AcceptorPolicy(**kwargs)


def test_policy_is_a_snapshot_of_what_it_was_given() -> None:
    syntaxes = [IMPLICIT_LE]
    contexts = {VERIFICATION: syntaxes}
    roles = {CT_STORAGE: (True, True)}
    allowed = {"SCU"}
    policy = AcceptorPolicy(contexts=contexts, roles=roles, any_abstract_syntax=syntaxes,
                            allowed_calling_ae_titles=allowed)  # type: ignore[arg-type]
    # The caller changes its own objects afterwards; the policy does not follow.
    syntaxes.append(EXPLICIT_LE)
    contexts[CT_STORAGE] = [IMPLICIT_LE]
    roles[CT_STORAGE] = (False, False)
    allowed.add("OTHER")
    assert dict(policy.contexts) == {VERIFICATION: (IMPLICIT_LE,)}
    assert dict(policy.roles) == {CT_STORAGE: (True, True)}
    assert policy.any_abstract_syntax == (IMPLICIT_LE,)
    assert policy.allowed_calling_ae_titles == frozenset({"SCU"})
    # ... and nobody can change the policy's mappings in place.
    with pytest.raises(TypeError):
        policy.contexts[MR_STORAGE] = (IMPLICIT_LE,)  # type: ignore[index]
    with pytest.raises(TypeError):
        policy.roles[MR_STORAGE] = (True, True)  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.ae_title = "OTHER"  # type: ignore[misc]


def test_policy_derived_with_replace_keeps_the_rest() -> None:
    policy = AcceptorPolicy(ae_title="ARCHIVE", contexts={VERIFICATION: [IMPLICIT_LE]})
    wider = dataclasses.replace(policy, contexts={**policy.contexts,
                                                  CT_STORAGE: [EXPLICIT_LE]})
    assert wider.ae_title == "ARCHIVE"
    assert dict(wider.contexts) == {VERIFICATION: (IMPLICIT_LE,), CT_STORAGE: (EXPLICIT_LE,)}
    assert dict(policy.contexts) == {VERIFICATION: (IMPLICIT_LE,)}


def test_policy_equality_is_by_value() -> None:
    assert AcceptorPolicy(contexts={VERIFICATION: [IMPLICIT_LE]}) == \
        AcceptorPolicy(contexts={VERIFICATION: (IMPLICIT_LE,)})


# -- roles of a specialised SOP class accepted through its general class ------------------


def _specialised_request(roles: dict[str, tuple[bool, bool]]) -> AAssociateRQ:
    return request(
        [(PROCEDURE_LOG, [IMPLICIT_LE])], roles=roles,
        common_extended=[SOPClassCommonExtendedNegotiationSubItem(
            PROCEDURE_LOG, STORAGE_SERVICE_CLASS, (ENHANCED_SR,))])


@pytest.mark.parametrize(("policy_roles", "granted"), [
    pytest.param({ENHANCED_SR: (True, True)}, (False, True), id="general-class-roles-apply"),
    pytest.param({ENHANCED_SR: (True, True), PROCEDURE_LOG: (True, False)}, (False, False),
                 id="own-entry-wins"),
    pytest.param({}, (False, False), id="default-roles"),
])
def test_specialised_class_roles_fall_back_to_the_general_class(
        policy_roles: dict[str, tuple[bool, bool]], granted: tuple[bool, bool]) -> None:
    policy = AcceptorPolicy(contexts={ENHANCED_SR: [IMPLICIT_LE]}, roles=policy_roles)
    ac, negotiated = negotiate(wire_rq(_specialised_request({PROCEDURE_LOG: (False, True)})),
                               policy)
    assert ac.presentation_contexts[0].result == ACCEPT
    assert ac.user_information.role_selections == (
        RoleSelectionSubItem(PROCEDURE_LOG, *granted),)
    ctx = negotiated.accepted[1]
    assert ctx.abstract_syntax == PROCEDURE_LOG
    assert (ctx.scu_role, ctx.scp_role) == granted


# -- interpret_accept holds the acceptor to the proposal ----------------------------------


def _ac(rq: AAssociateRQ, *extra: UserSubItem,
        answers: Sequence[PresentationContextAC] | None = None) -> AAssociateAC:
    sub_items: tuple[UserSubItem, ...] = (
        MaximumLengthSubItem(16384), ImplementationClassUIDSubItem("1.2.3.4"), *extra)
    if answers is None:
        answers = [PresentationContextAC(1, ACCEPT, IMPLICIT_LE)]
    return wire_ac(AAssociateAC(rq.called_ae_title, rq.calling_ae_title, tuple(answers),
                                UserInformationItem(sub_items)))


@pytest.mark.parametrize(("asked", "answer", "expected"), [
    pytest.param((2, 3), (5, 9), (2, 3), id="more-than-asked"),
    pytest.param((2, 3), (0, 0), (2, 3), id="unlimited-when-limited-asked"),
    pytest.param((0, 3), (4, 0), (4, 3), id="mixed"),
    pytest.param((4, 4), (2, 4), (2, 4), id="less-is-fine"),
    pytest.param((0, 0), (0, 6), (0, 6), id="unlimited-asked"),
])
def test_window_reply_above_the_proposal_is_held_to_it(
        asked: tuple[int, int], answer: tuple[int, int], expected: tuple[int, int]) -> None:
    rq = request(async_window=asked)
    negotiated = interpret_accept(rq, _ac(rq, AsyncOperationsWindowSubItem(*answer)))
    assert (negotiated.max_invoke, negotiated.max_perform) == expected


def test_extended_reply_for_a_sop_class_not_asked_about_is_dropped() -> None:
    rq = request([(CT_STORAGE, [IMPLICIT_LE])], extended={CT_STORAGE: b"\x01"})
    ac = _ac(rq, SOPClassExtendedNegotiationSubItem(CT_STORAGE, b"\x00"),
             SOPClassExtendedNegotiationSubItem(MR_STORAGE, b"\x01"))
    assert dict(interpret_accept(rq, ac).extended) == {CT_STORAGE: b"\x00"}


def test_user_identity_response_without_an_identity_sent_is_ignored() -> None:
    rq = request()
    negotiated = interpret_accept(rq, _ac(rq, UserIdentityACSubItem(b"token")))
    assert negotiated.user_identity is None
    assert negotiated.user_identity_response is None


# -- the window rule ----------------------------------------------------------------------

_WINDOW = st.integers(min_value=0, max_value=0xFFFF)


@settings(max_examples=300, deadline=None)
@given(_WINDOW, _WINDOW)
def test_min_window_is_the_tighter_limit(first: int, second: int) -> None:
    result = min_window(first, second)
    assert result == min_window(second, first)
    # Never looser than a limited side; unlimited only when both are.
    for side in (first, second):
        if side:
            assert 0 < result <= side
    assert (result == 0) == (first == 0 and second == 0)
    assert result in (first, second)
