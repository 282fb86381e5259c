"""Negotiated: role views and context lookup (PS3.7 D.3.3.4)."""

from __future__ import annotations

import pytest
from acse_support import (
    CT_STORAGE,
    EXPLICIT_BE,
    EXPLICIT_LE,
    IMPLICIT_LE,
    JPEG_BASELINE,
    MR_STORAGE,
    STORAGE_COMMITMENT,
    VERIFICATION,
)

from dicomnet.acse import AcceptedContext, Negotiated

# Roles are the requestor's (PS3.7 D.3.3.4); listed out of ID order on purpose.
CONTEXTS = [
    AcceptedContext(5, CT_STORAGE, IMPLICIT_LE, True, False),
    AcceptedContext(3, CT_STORAGE, EXPLICIT_LE, True, False),
    AcceptedContext(1, CT_STORAGE, JPEG_BASELINE, True, False),
    AcceptedContext(9, STORAGE_COMMITMENT, EXPLICIT_LE, False, True),
    AcceptedContext(7, STORAGE_COMMITMENT, IMPLICIT_LE, True, True),
    AcceptedContext(11, MR_STORAGE, IMPLICIT_LE, False, False),
]


def _view(is_requestor: bool) -> Negotiated:
    return Negotiated(is_requestor=is_requestor, calling_ae_title="SCU",
                      called_ae_title="SCP",
                      accepted={ctx.context_id: ctx for ctx in CONTEXTS})


def _id(ctx: AcceptedContext | None) -> int | None:
    return None if ctx is None else ctx.context_id


def test_contexts_for_in_context_id_order() -> None:
    view = _view(True)
    assert [c.context_id for c in view.contexts_for(CT_STORAGE)] == [1, 3, 5]
    assert [c.context_id for c in view.contexts_for(STORAGE_COMMITMENT)] == [7, 9]
    assert view.contexts_for(VERIFICATION) == []


@pytest.mark.parametrize(("is_requestor", "abstract", "syntaxes", "as_scp", "expected"), [
    # Requestor: SCU on the storage contexts.
    (True, CT_STORAGE, None, False, 1),  # any syntax: lowest context ID
    (True, CT_STORAGE, [IMPLICIT_LE, EXPLICIT_LE], False, 5),  # our preference order
    (True, CT_STORAGE, [EXPLICIT_LE, IMPLICIT_LE], False, 3),
    (True, CT_STORAGE, [EXPLICIT_BE, EXPLICIT_LE], False, 3),  # skip what is not there
    (True, CT_STORAGE, [EXPLICIT_BE], False, None),
    (True, CT_STORAGE, [], False, None),
    (True, CT_STORAGE, None, True, None),  # the requestor is not SCP there
    (True, VERIFICATION, None, False, None),  # nothing accepted
    # Role filtering on storage commitment: 7 both roles, 9 requestor SCP only.
    (True, STORAGE_COMMITMENT, None, False, 7),
    (True, STORAGE_COMMITMENT, [EXPLICIT_LE], False, None),
    (True, STORAGE_COMMITMENT, [EXPLICIT_LE], True, 9),
    (True, STORAGE_COMMITMENT, None, True, 7),
    (True, STORAGE_COMMITMENT, [EXPLICIT_LE, IMPLICIT_LE], True, 9),
    # A context with no role at all is never chosen.
    (True, MR_STORAGE, None, False, None),
    (True, MR_STORAGE, None, True, None),
    # Acceptor: complementary roles.
    (False, CT_STORAGE, None, False, None),
    (False, CT_STORAGE, None, True, 1),
    (False, CT_STORAGE, [IMPLICIT_LE], True, 5),
    (False, STORAGE_COMMITMENT, None, False, 7),  # requestor SCP -> acceptor SCU
    (False, STORAGE_COMMITMENT, [EXPLICIT_LE], False, 9),
    (False, STORAGE_COMMITMENT, [EXPLICIT_LE], True, None),  # 9: requestor not SCU
    (False, STORAGE_COMMITMENT, None, True, 7),
    (False, MR_STORAGE, None, False, None),
    (False, MR_STORAGE, None, True, None),
])
def test_find_context(is_requestor: bool, abstract: str, syntaxes: list[str] | None,
                      as_scp: bool, expected: int | None) -> None:
    assert _id(_view(is_requestor).find_context(abstract, syntaxes, as_scp=as_scp)) == expected


@pytest.mark.parametrize("is_requestor", [True, False])
def test_can_act_is_complementary(is_requestor: bool) -> None:
    view, other = _view(is_requestor), _view(not is_requestor)
    for ctx in CONTEXTS:
        assert view.can_act_as_scu(ctx) == other.can_act_as_scp(ctx)
        assert view.can_act_as_scp(ctx) == other.can_act_as_scu(ctx)


def test_syntaxes_can_be_any_sequence() -> None:
    view = _view(True)
    assert _id(view.find_context(CT_STORAGE, (IMPLICIT_LE,))) == 5


def test_mappings_are_snapshots() -> None:
    accepted = {1: CONTEXTS[2]}
    extended = {CT_STORAGE: b"\x01"}
    view = Negotiated(is_requestor=True, calling_ae_title="A", called_ae_title="B",
                      accepted=accepted, extended=extended)
    accepted[3] = CONTEXTS[1]
    extended[MR_STORAGE] = b"\x02"
    assert list(view.accepted) == [1]
    assert dict(view.extended) == {CT_STORAGE: b"\x01"}
    with pytest.raises(TypeError):
        view.rejected[1] = (CT_STORAGE, 3)  # type: ignore[index]
