"""The endurance group's negative controls: a scripted peer that serves one association
at a time fails the slow requestor check; one that stops listening on an oversized value
fails that check; one that leaves a C-FIND with a 64 KiB value unanswered, or stops
listening on it, fails the oversized C-FIND check; the unbroken peer and ``dicomnet``'s
own Server pass them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

import pytest
from broken_peers import ScriptedSCP
from pydicom import Dataset
from test_check_negative import failed, reasons, scripted, verdicts

from dicomnet import IncomingRequest, Server
from dicomnet.check import Outcome, endurance_checks

#: the peers read the 64 KiB Patient's Name the check sends, and pydicom says so
pytestmark = [pytest.mark.anyio,
              pytest.mark.filterwarnings("ignore:The PN component length:UserWarning")]
Serving = Callable[..., AbstractAsyncContextManager[int]]


@pytest.fixture(autouse=True)
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(endurance_checks, "ECHO_WAIT", 3.0)
    monkeypatch.setattr(endurance_checks, "FIND_WAIT", 3.0)


async def test_the_unbroken_peer_passes_the_endurance_checks() -> None:
    async with scripted(ScriptedSCP()) as port:
        results = await verdicts(port, ["endurance"], hostile=True)
    assert {v.result.outcome for v in results} == {Outcome.PASS}, reasons(results)
    assert len(results) == 3


async def test_the_endurance_checks_need_hostile() -> None:
    async with scripted(ScriptedSCP()) as port:
        results = await verdicts(port, ["endurance"])
    assert {v.result.outcome for v in results} == {Outcome.SKIP}, reasons(results)


async def test_a_peer_serving_one_association_at_a_time_fails_the_slow_check() -> None:
    async with scripted(ScriptedSCP(serial=True)) as port:
        results = await verdicts(port, ["endurance.slow-requestor"], hostile=True)
    assert failed(results) == {"endurance.slow-requestor"}, reasons(results)


async def test_a_peer_that_stops_listening_on_an_oversized_value_fails() -> None:
    async with scripted(ScriptedSCP(crash_on_long_uid=True)) as port:
        # not the oversized C-FIND, which runs after and finds no one listening
        results = await verdicts(port, ["endurance.slow-requestor",
                                        "endurance.oversized-value"], hostile=True)
    assert failed(results) == {"endurance.oversized-value"}, reasons(results)


async def test_a_peer_leaving_an_oversized_find_unanswered_fails() -> None:
    async with scripted(ScriptedSCP(hang_on_long_value=1024)) as port:
        results = await verdicts(port, ["endurance"], hostile=True)
    assert failed(results) == {"endurance.oversized-find-value"}, reasons(results)
    verdict = next(v for v in results if v.check.id == "endurance.oversized-find-value")
    assert "hanging" in verdict.result.reason, verdict.result


async def test_a_peer_that_stops_listening_on_an_oversized_find_fails() -> None:
    async with scripted(ScriptedSCP(crash_on_long_value=1024)) as port:
        results = await verdicts(port, ["endurance.oversized-find-value"], hostile=True)
    assert failed(results) == {"endurance.oversized-find-value"}, reasons(results)
    assert "stopped serving" in results[0].result.reason, results[0].result


async def test_dicomnet_server_answers_an_oversized_find(serving: Serving) -> None:
    """dicomnet's own C-FIND SCP (no matches held) passes: it answers, or refuses."""
    server = Server("BROKEN")
    held: list[Dataset] = []

    @server.on_find()
    async def find(_request: IncomingRequest) -> AsyncIterator[Dataset]:
        for study in held:
            yield study

    async with serving(server) as port:
        results = await verdicts(port, ["endurance.oversized-find-value"], hostile=True)
    assert [v.result.outcome for v in results] == [Outcome.PASS], reasons(results)
