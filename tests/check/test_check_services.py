"""The services group of ``dicomnet check`` (worklist, storage commitment, MPPS):
an SCP that keeps the rules passes every check, and each broken rule fails exactly
its own check (issue 22 item 3: a check no broken peer fails is not a check)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

import anyio
import pytest
from broken_services import services_server

from dicomnet.check import Outcome, Target, Verdict, run_checks, select, service_checks
from dicomnet.config import Timeouts
from dicomnet.testing import free_port

pytestmark = pytest.mark.anyio
Serving = Callable[..., AbstractAsyncContextManager[int]]


async def verdicts(port: int, *, store: bool = True,
                   only: Sequence[str] = ("storage", "services"),
                   listen: tuple[str, str, int] | None = None) -> dict[str, Verdict]:
    target = Target("127.0.0.1", port, called_ae="BROKEN",
                    timeouts=Timeouts(connect=10, acse=10, dimse=20, network=20),
                    listen=listen)
    with anyio.fail_after(240):
        results = await run_checks(target, select(only), store=store)
    return {v.check.id: v for v in results if v.check.group == "services"}


def outcomes(results: dict[str, Verdict]) -> dict[str, str]:
    return {name: f"{v.result.outcome.value}: {v.result.reason}"
            for name, v in results.items()}


def failed(results: dict[str, Verdict]) -> set[str]:
    return {name for name, v in results.items() if v.result.outcome is Outcome.FAIL}


async def test_an_scp_keeping_the_rules_passes_every_services_check(
        serving: Serving) -> None:
    async with serving(services_server()) as port:
        results = await verdicts(port)
    assert {v.result.outcome for v in results.values()} == {Outcome.PASS}, \
        outcomes(results)
    assert len(results) == 6


async def test_commitment_and_mpps_need_store_and_worklist_does_not(
        serving: Serving) -> None:
    async with serving(services_server()) as port:
        results = await verdicts(port, store=False, only=("services",))
    skipped = {n for n, v in results.items() if v.result.outcome is Outcome.SKIP}
    assert skipped == {"services.commitment", "services.commitment-unknown",
                       "services.mpps-complete", "services.mpps-unknown"}, outcomes(results)
    assert failed(results) == set(), outcomes(results)


@pytest.mark.parametrize(("flaw", "expected"), [
    ("ignore_modality", {"services.worklist-modality"}),
    ("commit_unknown", {"services.commitment-unknown"}),
    ("modifiable_mpps", {"services.mpps-complete"}),
])
async def test_each_broken_rule_fails_its_own_check(serving: Serving, flaw: str,
                                                    expected: set[str]) -> None:
    flaws: dict[str, Any] = {flaw: True}
    async with serving(services_server(**flaws)) as port:
        results = await verdicts(port)
    assert failed(results) == expected, outcomes(results)


async def test_a_peer_without_the_services_skips_them_by_name(serving: Serving) -> None:
    from broken_peers import wrong_status_server

    async with serving(wrong_status_server()) as port:
        results = await verdicts(port, only=("services",))
    reasons = {n: v.result.reason for n, v in results.items()}
    assert all(v.result.outcome is Outcome.SKIP for v in results.values()), reasons
    assert "Modality Worklist" in reasons["services.worklist-universal"]
    assert "Storage Commitment" in reasons["services.commitment"]
    assert "Modality Performed Procedure Step" in reasons["services.mpps-unknown"]


COMMITMENT = ("storage", "services.commitment", "services.commitment-unknown")


async def test_a_report_on_a_new_association_passes_the_commitment_checks(
        serving: Serving) -> None:
    """PS3.4 J.3.3: the SCP may report on a new association it opens (as the SOP
    class's SCP, by role selection) to the check's own SCP."""
    listen_port = free_port()
    async with serving(services_server(report_to=("127.0.0.1", listen_port))) as port:
        results = await verdicts(port, only=COMMITMENT,
                                 listen=("CHECK-DEST", "127.0.0.1", listen_port))
    assert {v.result.outcome for v in results.values()} == {Outcome.PASS}, \
        outcomes(results)
    for verdict in results.values():
        assert any("report on a new association BROKEN -> DICOMNET-CHECK (SCP role "
                   "proposed and granted)" in line for line in verdict.result.evidence), \
            verdict.result.evidence


@pytest.mark.parametrize(("flaw", "expected"), [
    ("wrong_transaction", {"services.commitment", "services.commitment-unknown"}),
    ("commit_unknown", {"services.commitment-unknown"}),
])
async def test_a_wrong_report_on_a_new_association_fails(serving: Serving, flaw: str,
                                                          expected: set[str]) -> None:
    listen_port = free_port()
    flaws: dict[str, Any] = {flaw: True}
    async with serving(services_server(report_to=("127.0.0.1", listen_port),
                                       **flaws)) as port:
        results = await verdicts(port, only=COMMITMENT,
                                 listen=("CHECK-DEST", "127.0.0.1", listen_port))
    assert failed(results) == expected, outcomes(results)
    if flaw == "wrong_transaction":
        assert all("Transaction UID" in v.result.reason for v in results.values())


async def test_without_listen_a_report_on_a_new_association_is_skipped_naming_listen(
        serving: Serving, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service_checks, "REPORT_WAIT", 1.0)
    async with serving(services_server(report_to=("127.0.0.1", free_port()))) as port:
        results = await verdicts(port, only=COMMITMENT)
    assert all(v.result.outcome is Outcome.SKIP and "--listen" in v.result.reason
               for v in results.values()), outcomes(results)
