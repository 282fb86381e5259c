"""Negative controls of the matching group of ``dicomnet check`` (issue 22 item 3):
each broken C-FIND SCP fails exactly the matching check whose rule it breaks, and the
same SCP without the flaw fails none."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import anyio
import pytest
from broken_matching import matching_server

from dicomnet.check import Outcome, Target, Verdict, run_checks, select
from dicomnet.config import Timeouts

pytestmark = pytest.mark.anyio
Serving = Callable[..., AbstractAsyncContextManager[int]]


async def verdicts(port: int) -> list[Verdict]:
    target = Target("127.0.0.1", port, called_ae="BROKEN",
                    timeouts=Timeouts(connect=10, acse=10, dimse=20, network=20))
    with anyio.fail_after(120):
        return await run_checks(target, select(["query", "matching"]))


def failed(results: list[Verdict]) -> set[str]:
    return {v.check.id for v in results if v.result.outcome is Outcome.FAIL}


def reasons(results: list[Verdict]) -> str:
    return "\n".join(f"{v.check.id} {v.result.outcome.value}: {v.result.reason}"
                     for v in results)


async def test_a_matching_scp_without_flaws_passes_every_matching_check(
        serving: Serving) -> None:
    async with serving(matching_server()) as port:
        results = await verdicts(port)
    assert {v.result.outcome for v in results if v.check.group == "matching"} \
        == {Outcome.PASS}, reasons(results)
    assert failed(results) == set(), reasons(results)


@pytest.mark.parametrize(("flaw", "expected"), [
    ("ignore_range", "matching.date-range"),
    ("first_uid_only", "matching.uid-list"),
    ("drop_empty_key", "matching.empty-return-key"),
    ("other_series", "matching.series-of-study"),
    ("ignore_name", "matching.name-wildcard"),
    ("series_keys_at_study", "matching.other-level-key"),
    ("whole_sequence", "matching.sequence"),
])
async def test_each_matching_flaw_fails_its_own_check(serving: Serving, flaw: str,
                                                      expected: str) -> None:
    async with serving(matching_server(**{flaw: True})) as port:
        results = await verdicts(port)
    assert failed(results) == {expected}, reasons(results)
