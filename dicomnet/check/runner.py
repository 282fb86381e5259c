"""Run the selected checks one after another against one peer.

The run starts by proposing every service a check uses; the answer tells which checks
can apply. A peer that cannot be reached or refuses that association cannot be checked
at all: :class:`UnreachableError` says why, and no verdict is given.
Each check has its own time limit; an exception inside one is its FAIL (the peer did
something the check could not follow), never the end of the run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import anyio

from dicomnet.check.association_checks import discover
from dicomnet.check.catalogue import OPT_IN
from dicomnet.check.model import (
    Check,
    CheckContext,
    Facts,
    Outcome,
    Result,
    RuleBrokenError,
    Target,
    failed,
    skipped,
)
from dicomnet.check.probe import PeerEndedError, describe
from dicomnet.errors import DicomNetError
from dicomnet.pdu import AAssociateAC

log = logging.getLogger("dicomnet.check")


class UnreachableError(Exception):
    """The peer cannot be checked: nothing listens, or it refused us."""


@dataclass(frozen=True)
class Verdict:
    check: Check
    result: Result
    duration: float


async def learn(target: Target) -> Facts:
    try:
        rq, answer = await discover(target)
    except (OSError, TimeoutError, DicomNetError, anyio.BrokenResourceError,
            anyio.EndOfStream) as exc:  # the last two: a TLS handshake that failed
        raise UnreachableError(f"cannot open an association to {target.host}:{target.port}: "
                          f"{getattr(exc, 'strerror', None) or str(exc) or type(exc).__name__}"
                          ) from exc
    if not isinstance(answer, AAssociateAC):
        raise UnreachableError(f"{target.host}:{target.port} answered our association with "
                          f"{describe(answer)} (check the AE titles)")
    facts = Facts(discovery=answer, discovery_request=rq,
                  peer_max_pdu=answer.user_information.maximum_length)
    proposed = {pc.context_id: pc.abstract_syntax for pc in rq.presentation_contexts}
    for pc in answer.presentation_contexts:
        if pc.result == 0 and pc.context_id in proposed:
            facts.accepted.setdefault(proposed[pc.context_id], []).append(pc.transfer_syntax)
    return facts


async def run_checks(target: Target, checks: Sequence[Check], *, store: bool = False,
                     hostile: bool = False, time_limit: float = 120.0) -> list[Verdict]:
    """Every check's verdict, in order. Raises :class:`UnreachableError`."""
    ctx = CheckContext(target, await learn(target), store=store, hostile=hostile)
    allowed = {"storage": store, "robustness": hostile, "endurance": hostile}
    verdicts = []
    for item in checks:
        started = time.monotonic()
        if not allowed.get(item.group, True):
            result = skipped(f"changes or stresses the peer: run with {OPT_IN[item.group]}")
        else:
            result = await _run_one(item, ctx, time_limit)
        verdicts.append(Verdict(item, result, time.monotonic() - started))
        log.info("%s: %s %s", item.id, result.outcome.value, result.reason)
    return verdicts


async def _run_one(item: Check, ctx: CheckContext, time_limit: float) -> Result:
    try:
        with anyio.move_on_after(time_limit) as scope:
            return await item.run(ctx)
    except TimeoutError:
        return failed("the peer did not answer in time (DIMSE/ACSE timeout)")
    except RuleBrokenError as exc:
        return failed(str(exc))
    except PeerEndedError as exc:
        return failed(f"the peer ended the association instead of answering: {exc}")
    except Exception as exc:
        log.debug("%s raised", item.id, exc_info=True)
        return failed(f"{type(exc).__name__}: {exc}")
    assert scope.cancelled_caught
    return failed(f"no verdict within {time_limit:g} s (the peer stopped answering)")


def exit_status(verdicts: Sequence[Verdict]) -> int:
    """0 when no check failed, 1 otherwise."""
    return int(any(v.result.outcome is Outcome.FAIL for v in verdicts))
