"""The endurance group's negative controls: a scripted peer that serves one association
at a time fails the slow requestor check; one that stops listening on an oversized value
fails that check; the unbroken peer passes both."""

from __future__ import annotations

import pytest
from broken_peers import ScriptedSCP
from test_check_negative import failed, reasons, scripted, verdicts

from dicomnet.check import Outcome, endurance_checks

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(endurance_checks, "ECHO_WAIT", 3.0)


async def test_the_unbroken_peer_passes_the_endurance_checks() -> None:
    async with scripted(ScriptedSCP()) as port:
        results = await verdicts(port, ["endurance"], hostile=True)
    assert {v.result.outcome for v in results} == {Outcome.PASS}, reasons(results)
    assert len(results) == 2


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
        results = await verdicts(port, ["endurance"], hostile=True)
    assert failed(results) == {"endurance.oversized-value"}, reasons(results)
