"""The retrieve group of ``dicomnet check`` and its negative controls: a scripted C-GET /
C-MOVE SCP without flaws passes every retrieve check, and each flaw fails exactly the
checks whose rule it breaks (issue 22 item 3)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import anyio
import pytest
from broken_retrieve import RetrieveSCP

from dicomnet.check import Outcome, Target, Verdict, run_checks, select
from dicomnet.config import Timeouts
from dicomnet.testing import free_port

pytestmark = pytest.mark.anyio
DESTINATION = "CHECK-DEST"


@asynccontextmanager
async def scripted(scp: RetrieveSCP) -> AsyncIterator[int]:
    async with anyio.create_task_group() as tg:
        port = await tg.start(partial(scp.serve))
        try:
            yield port
        finally:
            tg.cancel_scope.cancel()


async def verdicts(flaws: dict[str, Any], *, store: bool = True) -> dict[str, Verdict]:
    move_port = free_port()
    scp = RetrieveSCP(destinations={DESTINATION: ("127.0.0.1", move_port)}, **flaws)
    async with scripted(scp) as port:
        target = Target("127.0.0.1", port, called_ae="BROKEN",
                        timeouts=Timeouts(connect=10, acse=10, dimse=20, network=20),
                        listen=(DESTINATION, "127.0.0.1", move_port))
        with anyio.fail_after(240):
            results = await run_checks(target, select(["storage", "retrieve"]),
                                       store=store)
    return {v.check.id: v for v in results if v.check.group == "retrieve"}


def outcomes(results: dict[str, Verdict]) -> dict[str, Outcome]:
    return {check_id: v.result.outcome for check_id, v in results.items()}


def reasons(results: dict[str, Verdict]) -> str:
    return "\n".join(f"{v.check.id} {v.result.outcome.value}: {v.result.reason} "
                     f"{v.result.evidence}" for v in results.values())


async def test_a_retrieve_scp_without_flaws_passes_every_retrieve_check() -> None:
    results = await verdicts({})
    assert set(outcomes(results).values()) == {Outcome.PASS}, reasons(results)
    assert len(results) == 7


async def test_without_store_only_the_unknown_study_is_retrieved() -> None:
    """Nothing stored: nothing is moved or fetched but a study no one holds."""
    results = await verdicts({}, store=False)
    assert outcomes(results) == {
        "retrieve.get-study": Outcome.SKIP, "retrieve.get-image": Outcome.SKIP,
        "retrieve.get-list": Outcome.SKIP,
        "retrieve.get-unknown": Outcome.PASS, "retrieve.get-cancel": Outcome.SKIP,
        "retrieve.move": Outcome.SKIP, "retrieve.move-unknown": Outcome.SKIP,
    }, reasons(results)


#: (what the scripted peer does wrong, the retrieve checks that must fail)
FLAWS: list[tuple[dict[str, Any], set[str]]] = [
    ({"miscount": True}, {"retrieve.get-study", "retrieve.get-image", "retrieve.get-list",
                          "retrieve.get-unknown", "retrieve.get-cancel", "retrieve.move"}),
    ({"wrong_instance": True}, {"retrieve.get-study", "retrieve.get-image", "retrieve.get-list",
                                "retrieve.get-unknown", "retrieve.get-cancel",
                                "retrieve.move"}),
    ({"send_nothing": True}, {"retrieve.get-study", "retrieve.get-image", "retrieve.get-list",
                              "retrieve.get-cancel", "retrieve.move"}),
    ({"unknown_destination_ok": True}, {"retrieve.move-unknown"}),
    ({"get_cancel_status": 0xA702}, {"retrieve.get-cancel"}),
    ({"ignore_get_cancel": True}, {"retrieve.get-cancel"}),
]


@pytest.mark.parametrize(("flaw", "expected"), FLAWS,
                         ids=[next(iter(flaw)) for flaw, _expected in FLAWS])
async def test_each_retrieve_flaw_fails_its_own_checks(flaw: dict[str, Any],
                                                       expected: set[str]) -> None:
    results = await verdicts(flaw)
    failed = {check_id for check_id, outcome in outcomes(results).items()
              if outcome is Outcome.FAIL}
    assert failed == expected, reasons(results)


async def release_collision(flaws: dict[str, Any], *, store: bool = True,
                            listen: bool = True) -> Verdict:
    """association.release-collision alone against a scripted mover."""
    move_port = free_port()
    scp = RetrieveSCP(destinations={DESTINATION: ("127.0.0.1", move_port)}, **flaws)
    async with scripted(scp) as port:
        target = Target("127.0.0.1", port, called_ae="BROKEN",
                        timeouts=Timeouts(connect=5, acse=3, dimse=10, network=10),
                        listen=(DESTINATION, "127.0.0.1", move_port) if listen else None)
        with anyio.fail_after(60):
            (verdict,) = await run_checks(target, select(["association.release-collision"]),
                                          store=store)
    return verdict


def said(verdict: Verdict) -> str:
    return f"{verdict.result.outcome.value}: {verdict.result.reason} {verdict.result.evidence}"


async def test_a_mover_that_answers_the_release_collision_passes() -> None:
    """The scripted mover's sub-operations go through dicomnet's association, which
    answers first as requestor and closes after our A-RELEASE-RP (PS3.8 Sta9-Sta11)."""
    verdict = await release_collision({})
    assert verdict.result.outcome is Outcome.PASS, said(verdict)
    assert "release collision" in verdict.result.reason, said(verdict)
    assert any("its A-RELEASE-RQ: a collision" in line for line in verdict.result.evidence)


@pytest.mark.parametrize(("flaw", "reason"), [
    ("abort", "answered our A-RELEASE-RQ with A-ABORT"),
    ("silent", "not the A-RELEASE-RP it owes first as requestor"),
])
async def test_a_mover_that_mishandles_the_release_collision_fails(flaw: str,
                                                                   reason: str) -> None:
    verdict = await release_collision({"release_flaw": flaw})
    assert verdict.result.outcome is Outcome.FAIL, said(verdict)
    assert reason in verdict.result.reason, said(verdict)


@pytest.mark.parametrize(("store", "listen", "reason"), [
    (False, True, "--store"), (True, False, "--listen"),
])
async def test_release_collision_says_what_it_needs(store: bool, listen: bool,
                                                    reason: str) -> None:
    verdict = await release_collision({}, store=store, listen=listen)
    assert verdict.result.outcome is Outcome.SKIP, said(verdict)
    assert reason in verdict.result.reason, said(verdict)
