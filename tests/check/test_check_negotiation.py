"""The negotiation group's negative controls: a scripted peer that answers extended
negotiation for a class that was not proposed with it, or answers the requestor-only
common extended item, or aborts when the requestor announces no maximum PDU, fails
exactly that check; the unbroken peer passes all three."""

from __future__ import annotations

import pytest
from broken_peers import ScriptedSCP
from test_check_negative import failed, reasons, scripted, verdicts

from dicomnet.check import Outcome
from dicomnet.pdu import (
    SOPClassCommonExtendedNegotiationSubItem,
    SOPClassExtendedNegotiationSubItem,
)

pytestmark = pytest.mark.anyio

MR = "1.2.840.10008.5.1.4.1.1.4"
GROUPS = ["association", "negotiation"]


async def test_the_unbroken_peer_passes_the_negotiation_checks() -> None:
    async with scripted(ScriptedSCP()) as port:
        results = await verdicts(port, GROUPS)
    outcome = {v.check.id: v.result.outcome for v in results}
    assert {outcome[f"negotiation.{name}"] for name in
            ("extended", "common-extended", "unlimited-pdu")} == {Outcome.PASS}, \
        reasons(results)


async def test_extended_negotiation_answered_for_a_class_not_proposed_fails() -> None:
    wrong = SOPClassExtendedNegotiationSubItem(MR, b"\x01")
    async with scripted(ScriptedSCP(extra_replies=(wrong,))) as port:
        results = await verdicts(port, GROUPS)
    assert failed(results) == {"negotiation.extended"}, reasons(results)


async def test_an_answer_to_common_extended_negotiation_fails() -> None:
    wrong = SOPClassCommonExtendedNegotiationSubItem("1.2.840.10008.5.1.4.1.1.2",
                                                     "1.2.840.10008.4.2")
    async with scripted(ScriptedSCP(extra_replies=(wrong,))) as port:
        results = await verdicts(port, GROUPS)
    assert failed(results) == {"negotiation.common-extended"}, reasons(results)


async def test_refusing_a_maximum_length_of_0_fails_the_unlimited_check() -> None:
    async with scripted(ScriptedSCP(abort_on_unlimited=True)) as port:
        results = await verdicts(port, GROUPS)
    assert failed(results) == {"negotiation.unlimited-pdu"}, reasons(results)
