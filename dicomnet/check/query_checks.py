"""The query group (read-only): C-FIND at STUDY level in the Study Root model, judged
against what the peer itself returned for a universal query (PS3.4 C.2.2.2, C.4.1).

Matching is checked on Patient ID, a required key at the STUDY level of the Study Root
model (PS3.4 C.6.2.1): single value matching must return exactly the studies of that
patient, wildcard matching exactly those whose Patient ID fits the pattern, both
judged by the studies the universal answer listed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from pydicom import Dataset

from dicomnet.check.model import (
    Check,
    CheckContext,
    Result,
    RuleBrokenError,
    check,
    failed,
    passed,
    skipped,
)
from dicomnet.check.probe import Probe, request
from dicomnet.check.queries import STUDY_RETURN_KEYS, study_identifier
from dicomnet.check.sop_classes import STUDY_FIND, UNCOMPRESSED
from dicomnet.dimse import CCancelRQ, CEchoRQ, CEchoRSP, CFindRQ, CFindRSP
from dicomnet.uids import VERIFICATION

PENDING = (0xFF00, 0xFF01)
#: How many pending responses may still come after our C-CANCEL: those already on
#: their way when the peer read it. We send the C-CANCEL in the same write as the
#: C-FIND, so a peer that honours it stops at once; one that sends more than this
#: went on as if it had never come.
CANCEL_SLACK = 32
#: Where a peer that ignores the C-CANCEL is given up on.
CANCEL_LIMIT = 5000


async def find_studies(ctx: CheckContext, identifier: Dataset, *, message_id: int = 11,
                       odd: list[str] | None = None) -> tuple[list[Dataset], int]:
    """The matches and the final status of one C-FIND on a new association; ``odd``
    gets the odd value lengths the identifiers came with."""
    rq = request(ctx.target, [(STUDY_FIND, UNCOMPRESSED)])
    async with Probe(ctx.target) as probe:
        context_id = await probe.open_context(rq, STUDY_FIND, "Study Root C-FIND")
        await probe.send_message(context_id, CFindRQ(
            message_id=message_id, affected_sop_class_uid=STUDY_FIND), identifier)
        matches: list[Dataset] = []
        while True:
            response, dataset = await probe.receive_message()
            if not isinstance(response, CFindRSP):
                raise RuleBrokenError(f"answered C-FIND with {type(response).__name__}")
            if response.message_id_being_responded_to != message_id:
                raise RuleBrokenError(f"a C-FIND-RSP responding to Message ID "
                                     f"{response.message_id_being_responded_to}, not "
                                     f"{message_id}")
            if response.status not in PENDING:
                await probe.release()
                if odd is not None:
                    odd += probe.odd_lengths
                return matches, response.status
            if dataset is not None:
                matches.append(dataset)


def first_value(ds: Dataset, keyword: str) -> str:
    return str(ds.get(keyword, "") or "").strip()


def study_uids(studies: Iterable[Dataset]) -> set[str]:
    return {first_value(ds, "StudyInstanceUID") for ds in studies}


def needs_studies(ctx: CheckContext) -> Result | None:
    if not ctx.facts.accepts(STUDY_FIND):
        return skipped("the peer does not accept Study Root C-FIND")
    if ctx.facts.studies is None:
        return skipped("no universal answer to judge by (query.study-universal failed "
                       "or did not run)")
    if not any(first_value(ds, "PatientID") for ds in ctx.facts.studies):
        return skipped("the peer holds no study with a Patient ID (--store gives it "
                       "some)")
    return None


@check("query", "study-universal",
       "STUDY-level universal matching returns the keys asked, with even value lengths",
       "PS3.4 C.4.1.1.3.2, C.2.2.2.3; PS3.5 7.1.1")
async def study_universal(ctx: CheckContext) -> Result:
    if not ctx.facts.accepts(STUDY_FIND):
        return skipped("the peer does not accept Study Root C-FIND")
    odd: list[str] = []
    matches, status = await find_studies(ctx, study_identifier(), odd=odd)
    evidence = [f"C-FIND STUDY with {', '.join(STUDY_RETURN_KEYS)} empty: "
                f"{len(matches)} matches, final status {status:#06x}"]
    if status != 0:
        return failed(f"final status {status:#06x}, not Success", *evidence)
    # PS3.5 7.1.1: every Value Length even (values padded, PS3.5 6.2)
    problems = [f"a value of odd length: {where}" for where in odd[:3]]
    for number, ds in enumerate(matches, 1):
        level = first_value(ds, "QueryRetrieveLevel")
        missing = [k for k in STUDY_RETURN_KEYS if k not in ds]
        if level != "STUDY":
            problems.append(f"match {number}: Query/Retrieve Level {level!r}")
        if missing:
            problems.append(f"match {number} lacks {', '.join(missing)}")
        if len(problems) >= 5:
            break
    ctx.facts.studies = matches
    if problems:
        return failed("; ".join(problems), *evidence)
    return passed("every match at STUDY level with every key asked, evenly encoded",
                  *evidence)


@check("query", "single-value", "single value matching returns only matching studies",
       "PS3.4 C.2.2.2.1")
async def single_value(ctx: CheckContext) -> Result:
    if (skip := needs_studies(ctx)) is not None:
        return skip
    studies = ctx.facts.studies or []
    value = next(first_value(ds, "PatientID") for ds in studies if first_value(ds, "PatientID"))
    expected = study_uids(ds for ds in studies if first_value(ds, "PatientID") == value)
    matches, status = await find_studies(ctx, study_identifier(PatientID=value))
    return _judge(matches, status, expected=expected, query=f"PatientID={value!r}",
                  fits=lambda ds: first_value(ds, "PatientID") == value, universal=len(studies))


def wildcard_pattern(value: str) -> str:
    """A pattern that ``value`` fits and that uses both wildcards: ``*`` for its head,
    ``?`` for its last-but-one character (its tail is what sets one ID apart from its
    neighbours, so the pattern stays selective)."""
    if len(value) < 4:
        return value[:1] + "*"
    return "*" + value[len(value) // 2:-2] + "?" + value[-1]


def wildcard_regex(pattern: str) -> re.Pattern[str]:
    # PS3.4 C.2.2.2.4: "*" any sequence (none included), "?" any one character
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c)
                              for c in pattern), re.DOTALL)


@check("query", "wildcard", "wildcard matching (* and ?) returns exactly what fits",
       "PS3.4 C.2.2.2.4")
async def wildcard(ctx: CheckContext) -> Result:
    if (skip := needs_studies(ctx)) is not None:
        return skip
    studies = ctx.facts.studies or []
    value = next(first_value(ds, "PatientID") for ds in studies if first_value(ds, "PatientID"))
    pattern = wildcard_pattern(value)
    regex = wildcard_regex(pattern)
    expected = study_uids(ds for ds in studies if regex.fullmatch(first_value(ds, "PatientID")))
    matches, status = await find_studies(ctx, study_identifier(PatientID=pattern))
    return _judge(matches, status, expected=expected, query=f"PatientID={pattern!r}",
                  fits=lambda ds: regex.fullmatch(first_value(ds, "PatientID")) is not None,
                  universal=len(studies))


def _judge(matches: list[Dataset], status: int, *, expected: set[str], query: str,
           fits: Callable[[Dataset], bool], universal: int) -> Result:
    got = study_uids(matches)
    evidence = (f"query {query}: {len(matches)} matches (of {universal} studies), final "
                f"status {status:#06x}; expected {len(expected)} from the universal answer",)
    if status != 0:
        return failed(f"final status {status:#06x}, not Success", *evidence)
    wrong = [ds for ds in matches if not fits(ds)]
    if wrong:
        return failed(f"{len(wrong)} matches do not fit the query (e.g. PatientID "
                      f"{first_value(wrong[0], 'PatientID')!r})", *evidence)
    if got != expected:
        return failed(f"returned {len(got - expected)} studies not expected and left out "
                      f"{len(expected - got)}", *evidence)
    return passed("exactly the studies that match", *evidence)


@check("query", "cancel", "C-CANCEL of a C-FIND ends it; the association stays usable",
       "PS3.4 C.4.1.2.3; PS3.7 9.3.2.3")
async def cancel(ctx: CheckContext) -> Result:
    if not ctx.facts.accepts(STUDY_FIND):
        return skipped("the peer does not accept Study Root C-FIND")
    rq = request(ctx.target, [(STUDY_FIND, UNCOMPRESSED), (VERIFICATION, UNCOMPRESSED)])
    async with Probe(ctx.target) as probe:
        context_id = await probe.open_context(rq, STUDY_FIND, "Study Root C-FIND")
        await probe.send_message(context_id, CFindRQ(
            message_id=21, affected_sop_class_uid=STUDY_FIND), study_identifier())
        await probe.send_message(context_id, CCancelRQ(message_id_being_responded_to=21))
        pending = 0
        while True:
            response, _ = await probe.receive_message()
            if not isinstance(response, CFindRSP):
                return failed(f"answered with {type(response).__name__}")
            if response.status not in PENDING:
                break
            pending += 1
            if pending >= CANCEL_LIMIT:
                break
        evidence = [f"sent C-FIND STUDY * and C-CANCEL together; {pending} pending "
                    f"responses, then final status {response.status:#06x}"
                    if pending < CANCEL_LIMIT else
                    f"sent C-FIND STUDY * and C-CANCEL together; gave up after "
                    f"{pending} pending responses"]
        if pending > CANCEL_SLACK:
            return failed(f"went on with {pending} pending responses after the C-CANCEL",
                          *evidence)
        if response.status not in (0xFE00, 0x0000):
            return failed(f"final status {response.status:#06x}: neither Cancel (0xFE00) "
                          "nor Success", *evidence)
        echo_context = probe.context_for(rq, VERIFICATION)
        if echo_context is not None:
            await probe.send_message(echo_context, CEchoRQ(
                message_id=22, affected_sop_class_uid=VERIFICATION))
            echo_response, _ = await probe.receive_message()
            if not isinstance(echo_response, CEchoRSP) or echo_response.status != 0:
                return failed("the C-ECHO after the cancelled C-FIND failed", *evidence)
            evidence.append("a C-ECHO on the same association then succeeded")
        await probe.release()
    return passed("Cancel" if response.status == 0xFE00 else "finished (Success) before "
                  "the cancel took effect", *evidence)


CHECKS: tuple[Check, ...] = (study_universal, single_value, wildcard, cancel)
