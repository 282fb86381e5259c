"""The matching group (read-only): the matching kinds of PS3.4 C.2.2.2 beyond single
value and wildcard, on Study Root C-FIND, each judged against what the peer itself
returned for the universal STUDY-level query of the query group (it runs first).

A check picks its values from the peer's own answer and says SKIP when that answer
holds nothing usable (no dates, fewer than two studies), so no verdict depends on
data the check made up.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

from pydicom import Dataset
from pydicom.uid import generate_uid

from dicomnet.check.model import (
    Check,
    CheckContext,
    Outcome,
    Result,
    check,
    failed,
    passed,
    skipped,
)
from dicomnet.check.queries import study_identifier
from dicomnet.check.query_checks import find_studies, first_value, needs_studies, study_uids


def _judge_set(got: set[str], expected: set[str], status: int, query: str,
               matches: int) -> Result:
    evidence = (f"query {query}: {matches} matches, final status {status:#06x}; "
                f"expected {len(expected)} from the universal answer",)
    if status != 0:
        return failed(f"final status {status:#06x}, not Success", *evidence)
    if got != expected:
        return failed(f"returned {len(got - expected)} studies not expected and left out "
                      f"{len(expected - got)}", *evidence)
    return passed("exactly the studies that match", *evidence)


@check("matching", "date-range", "range matching on Study Date (closed and open ranges)",
       "PS3.4 C.2.2.2.5")
async def date_range(ctx: CheckContext) -> Result:
    if (skip := needs_studies(ctx)) is not None:
        return skip
    studies = ctx.facts.studies or []
    dated = [ds for ds in studies if len(first_value(ds, "StudyDate")) == 8]
    dates = sorted({first_value(ds, "StudyDate") for ds in dated})
    if not dates:
        return skipped("the peer holds no study with a Study Date")
    day = dates[len(dates) // 2]
    # C.2.2.2.5: "D1-D2" matches D1 <= value <= D2, "-D" value <= D, "D-" value >= D;
    # a study without a date matches no range.
    ranges: dict[str, Callable[[str], bool]] = {
        f"{day}-{day}": lambda d: d == day, f"-{day}": lambda d: d <= day,
        f"{day}-": lambda d: d >= day}
    # and a range ending the day before the earliest date held, so that exclusion is
    # judged even when every study shares one date (as after --store)
    try:
        before = (date.fromisoformat(f"{dates[0][:4]}-{dates[0][4:6]}-{dates[0][6:]}")
                  - timedelta(days=1)).strftime("%Y%m%d")
    except ValueError:
        before = None
    if before is not None and before > "19000101":
        ranges[f"19000101-{before}"] = lambda d: "19000101" <= d <= before
    evidence: list[str] = []
    for text, fits in ranges.items():
        expected = study_uids(ds for ds in dated if fits(first_value(ds, "StudyDate")))
        matches, status = await find_studies(ctx, study_identifier(StudyDate=text))
        result = _judge_set(study_uids(matches), expected, status, f"StudyDate={text!r}",
                            len(matches))
        evidence.extend(result.evidence)
        if result.outcome is not Outcome.PASS:
            return failed(f"range {text!r}: {result.reason}", *evidence)
    return passed(f"closed and open ranges around {day} return exactly the studies in "
                  f"them ({len(dates)} distinct dates held)", *evidence)


@check("matching", "uid-list", "List of UID matching on Study Instance UID (two UIDs)",
       "PS3.4 C.2.2.2.2")
async def uid_list(ctx: CheckContext) -> Result:
    if (skip := needs_studies(ctx)) is not None:
        return skip
    uids = sorted(study_uids(ctx.facts.studies or []) - {""})
    if len(uids) < 2:
        return skipped("the peer holds fewer than two studies")
    pair = {uids[0], uids[-1]}
    matches, status = await find_studies(ctx, study_identifier(StudyInstanceUID="\\".join(
        sorted(pair))))
    return _judge_set(study_uids(matches), pair, status, "StudyInstanceUID=<two UIDs>",
                      len(matches))


@check("matching", "empty-return-key", "an empty return key not asked before comes back",
       "PS3.4 C.2.2.2.3, C.4.1.1.3.2")
async def empty_return_key(ctx: CheckContext) -> Result:
    if (skip := needs_studies(ctx)) is not None:
        return skip
    # Study Description is an optional key (PS3.4 C.6.2.1): the SCP may not hold it,
    # but a key asked for comes back in every match, zero-length when it has no value
    # (C.2.2.2.3 universal matching; C.4.1.1.3.2: the SCP returns it)
    identifier = study_identifier(StudyDescription="")
    matches, status = await find_studies(ctx, identifier)
    evidence = [f"C-FIND STUDY with StudyDescription empty: {len(matches)} matches, "
                f"final status {status:#06x}"]
    if status != 0:
        return failed(f"final status {status:#06x}, not Success", *evidence)
    if not matches:
        return skipped("no match came back to look at", *evidence)
    missing = sum(1 for ds in matches if "StudyDescription" not in ds)
    if missing:
        return failed(f"{missing} of {len(matches)} matches lack StudyDescription",
                      *evidence)
    return passed("every match carries StudyDescription", *evidence)


@check("matching", "series-of-study", "a SERIES-level query naming its study returns "
       "only that study's series", "PS3.4 C.4.1.2.1, C.4.1.3.1")
async def series_of_study(ctx: CheckContext) -> Result:
    if (skip := needs_studies(ctx)) is not None:
        return skip
    study = sorted(study_uids(ctx.facts.studies or []) - {""})[0]
    identifier = Dataset()
    identifier.QueryRetrieveLevel = "SERIES"
    identifier.StudyInstanceUID = study
    identifier.SeriesInstanceUID = ""
    identifier.Modality = ""
    identifier.SeriesNumber = ""
    matches, status = await find_studies(ctx, identifier)
    evidence = [f"C-FIND SERIES with StudyInstanceUID of one study: {len(matches)} "
                f"matches, final status {status:#06x}"]
    if status != 0:
        return failed(f"final status {status:#06x}, not Success", *evidence)
    if not matches:
        return failed("no series for a study its universal answer listed", *evidence)
    # C.4.1.2.1 hierarchical: the unique keys of the levels above are in the request
    # and come back; a series of another study is not a match
    other = [ds for ds in matches if first_value(ds, "StudyInstanceUID") != study]
    if other:
        return failed(f"{len(other)} of {len(matches)} series name another study or "
                      "none", *evidence)
    if any(not first_value(ds, "SeriesInstanceUID") for ds in matches):
        return failed("a match lacks its Series Instance UID", *evidence)
    return passed("every series names the study asked", *evidence)


@check("matching", "name-wildcard", "Patient's Name wildcard on its first letters",
       "PS3.4 C.2.2.2.4, C.2.2.2.1")
async def name_wildcard(ctx: CheckContext) -> Result:
    if (skip := needs_studies(ctx)) is not None:
        return skip
    studies = ctx.facts.studies or []
    name = next((first_value(ds, "PatientName") for ds in studies
                 if len(first_value(ds, "PatientName")) >= 2
                 and first_value(ds, "PatientName")[:2].isalpha()), "")
    if not name:
        return skipped("the peer holds no Patient's Name starting with two letters")
    head = name[:2]
    # whether "Do*" also matches "DOE" is the SCP's choice (PS3.4 C.2.2.2.1 leaves PN
    # case sensitivity to it): a study whose name starts with ``head`` in any case may
    # come back; one starting with exactly ``head`` must
    must = study_uids(ds for ds in studies if first_value(ds, "PatientName").startswith(head))
    may = study_uids(ds for ds in studies
                if first_value(ds, "PatientName").lower().startswith(head.lower()))
    matches, status = await find_studies(ctx, study_identifier(PatientName=head + "*"))
    got = study_uids(matches)
    evidence = (f"query PatientName={head + '*'!r}: {len(matches)} matches, final status "
                f"{status:#06x}; {len(must)} names start with it, {len(may)} ignoring "
                "case",)
    if status != 0:
        return failed(f"final status {status:#06x}, not Success", *evidence)
    if got - may:
        return failed(f"returned {len(got - may)} studies whose name does not start "
                      f"with {head!r}", *evidence)
    if must - got:
        return failed(f"left out {len(must - got)} studies whose name starts with "
                      f"{head!r}", *evidence)
    case = "case-insensitive" if got - must else "case-sensitive or no case variants held"
    return passed(f"exactly the names that fit ({case}: either is allowed)", *evidence)


def _lower_level_keys() -> dict[str, str]:
    """SERIES-level keys of the Study Root model (PS3.4 C.6.2.1, Table C.6-6), each with
    a value no series holds: a UID made for the purpose, a modality no one uses."""
    return {"SeriesInstanceUID": generate_uid(), "Modality": "DNCHK"}


def _refusal(status: int) -> bool:
    """Refused or Failed for C-FIND (PS3.4 Table C.4-1): Out of Resources 0xA700,
    Identifier Does Not Match SOP Class 0xA900, Unable to Process 0xCxxx."""
    return status in (0xA700, 0xA900) or status & 0xF000 == 0xC000


@check("matching", "other-level-key", "a SERIES-level key in a STUDY-level query: refused, "
       "or not matched", "PS3.4 C.4.1.2.1, C.4.1.3.1, C.4.1.1.3.1")
async def other_level_key(ctx: CheckContext) -> Result:
    """The rule: the key attributes allowed at a level are those the information model
    defines for it (PS3.4 C.4.1.1.3.1); Series Instance UID and Modality are SERIES
    keys (Table C.6-6), and without relational queries negotiated (we propose none,
    C.4.1.2.2) a hierarchical query carries keys of its own level only (C.4.1.2.1). The
    SCP may refuse such an identifier (C.4.1.3.1: Refused or Failed when it cannot
    process the request; 0xA900 "Identifier does not match SOP Class"). If it answers,
    the Hierarchical Search Method (C.4.1.3.1.1 a) matches the keys against the Key
    Attributes of each entity of the query's level, and a study has no Series Instance
    UID or Modality of its own: the key takes no part, the study still matches, and
    Success says every match was sent (C.4.1.3.1). Success without the study means the
    SCP filtered on the series below it, a relational query nobody negotiated."""
    if (skip := needs_studies(ctx)) is not None:
        return skip
    held = study_uids(ctx.facts.studies or []) - {""}
    stored = [item.study_instance_uid for item in ctx.facts.stored
              if item.study_instance_uid in held]
    study = stored[0] if stored else sorted(held)[0]
    matches, status = await find_studies(ctx, study_identifier(StudyInstanceUID=study))
    evidence = [f"C-FIND STUDY with StudyInstanceUID of one held study alone: "
                f"{len(matches)} matches, final status {status:#06x}"]
    if status != 0 or study not in study_uids(matches):
        return skipped("the study is not found by its Study Instance UID alone, so "
                       "nothing can be judged (see query.* and matching.uid-list)",
                       *evidence)
    problems = []
    kinds = []
    for keyword, value in _lower_level_keys().items():
        identifier = study_identifier(StudyInstanceUID=study)
        setattr(identifier, keyword, value)
        matches, status = await find_studies(ctx, identifier)
        found = study in study_uids(matches)
        evidence.append(f"the same with {keyword}={value!r} (matching no series): "
                        f"{len(matches)} matches, final status {status:#06x}")
        if _refusal(status):
            kinds.append(f"{keyword}: refused ({status:#06x})")
        elif status != 0:
            problems.append(f"{keyword}: final status {status:#06x}, neither Success nor "
                            "a refusal of PS3.4 Table C.4-1")
        elif not found:
            problems.append(f"{keyword}: Success without the study, filtered on a key "
                            "below the STUDY level")
        else:
            kinds.append(f"{keyword}: not matched (the study found)")
    if problems:
        return failed("; ".join(problems), *evidence)
    return passed("; ".join(kinds), *evidence)


#: The item keys of the Procedure Code Sequence query (a Code Sequence Macro, PS3.3
#: Table 8.8-1): Code Value matched, the others asked for.
_CODE_KEYS = ("CodeValue", "CodingSchemeDesignator", "CodeMeaning")


def _procedure_codes(code_value: str = "") -> Dataset:
    """A STUDY-level identifier with a Procedure Code Sequence key of one item
    (PS3.4 C.2.2.2.6): universal when ``code_value`` is empty, which asks for every
    item of every study."""
    item = Dataset()
    for keyword in _CODE_KEYS:
        setattr(item, keyword, "")
    item.CodeValue = code_value
    identifier = study_identifier()
    identifier.ProcedureCodeSequence = [item]
    return identifier


def _code_values(ds: Dataset) -> list[str]:
    """The Code Values of the items of a match's Procedure Code Sequence."""
    element = ds.get("ProcedureCodeSequence")
    items = element if element is not None and not isinstance(element, str) else []
    return [first_value(item, "CodeValue") for item in items]


@check("matching", "sequence", "sequence matching on Procedure Code Sequence: the items "
       "returned match", "PS3.4 C.2.2.2.6, C.2.2.1.3")
async def sequence(ctx: CheckContext) -> Result:
    """Procedure Code Sequence is an optional STUDY key (PS3.4 C.6.2.1.2): the peer
    may not return it, or return it without matching on it (C.2.2.1.3), and both pass.
    A peer that does match on it (it leaves studies out) must return the studies with
    an item of that Code Value, and only matching items (C.2.2.2.6: "a sequence of
    matching Items containing only the requested Attributes")."""
    if (skip := needs_studies(ctx)) is not None:
        return skip
    universal, status = await find_studies(ctx, _procedure_codes())
    evidence = [f"C-FIND STUDY with a Procedure Code Sequence item of empty "
                f"{', '.join(_CODE_KEYS)}: {len(universal)} matches, final status "
                f"{status:#06x}"]
    if status != 0:
        return skipped(f"the universal query with the sequence key ended {status:#06x}: "
                       "nothing to judge by", *evidence)
    held = {first_value(ds, "StudyInstanceUID"): [v for v in _code_values(ds) if v]
            for ds in universal}
    counts: dict[str, int] = {}
    for values in held.values():
        for value in set(values):
            counts[value] = counts.get(value, 0) + 1
    if not counts:
        return skipped("no study with a Procedure Code Sequence item carrying a Code "
                       "Value in the peer's answer (an optional key it need not "
                       "support)", *evidence)
    # the rarest code, so that a peer matching on it leaves studies out
    code = min(counts, key=lambda value: (counts[value], value))
    expected = {uid for uid, values in held.items() if code in values}
    matches, status = await find_studies(ctx, _procedure_codes(code))
    got = study_uids(matches)
    evidence.append(f"the same with CodeValue={code!r} ({len(expected)} of "
                    f"{len(held)} studies have it): {len(matches)} matches, final status "
                    f"{status:#06x}")
    if status != 0:
        return failed(f"final status {status:#06x}, not Success", *evidence)
    if got >= set(held):
        return passed("not matched on (every study returned): allowed for an optional "
                      "key (PS3.4 C.2.2.1.3)" if expected != set(held) else
                      "every study holds that code: nothing left out to tell by", *evidence)
    problems = []
    if expected - got:
        problems.append(f"left out {len(expected - got)} studies with an item of Code "
                        f"Value {code!r}")
    wrong = [ds for ds in matches
             if any(value and value != code for value in _code_values(ds))]
    if wrong:
        other = next(v for v in _code_values(wrong[0]) if v and v != code)
        problems.append(f"{len(wrong)} matches carry an item of another Code Value "
                        f"(e.g. {other!r})")
    # a study without the sequence may match: its value is unknown (C.2.2.1.2); one
    # whose items all have other codes may not
    strangers = [uid for uid in got - expected if held.get(uid)]
    if strangers:
        problems.append(f"returned {len(strangers)} studies without an item of Code "
                        f"Value {code!r}")
    if problems:
        return failed("; ".join(problems), *evidence)
    return passed("matched: exactly the studies with that code, and only matching items",
                  *evidence)


CHECKS: tuple[Check, ...] = (date_range, uid_list, empty_return_key, series_of_study,
                             name_wildcard, other_level_key, sequence)
