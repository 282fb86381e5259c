"""The verdicts as a table for people, JSON for programs and JUnit XML for CI.

JUnit has no standard schema; the shape here is the one Jenkins, GitLab and GitHub
test reporters read: ``<testsuites>`` holding a ``<testsuite>`` per group with its
counts, a ``<testcase>`` per check (``classname`` the group), ``<failure message=...>``
for a FAIL and ``<skipped message=...>`` for a SKIP, the evidence as the element text.
"""

from __future__ import annotations

import json
import shutil
import textwrap
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import Any

from dicomnet.check.model import Outcome
from dicomnet.check.runner import Verdict
from dicomnet.logtext import peer_text


def as_dict(verdict: Verdict) -> dict[str, Any]:
    check, result = verdict.check, verdict.result
    return {"id": check.id, "group": check.group, "title": check.title,
            "reference": check.reference, "result": result.outcome.value,
            "reason": result.reason, "evidence": list(result.evidence),
            "duration": round(verdict.duration, 3)}


def to_json(verdicts: Sequence[Verdict]) -> str:
    return json.dumps([as_dict(v) for v in verdicts], indent=2) + "\n"


def to_junit(verdicts: Sequence[Verdict], name: str) -> bytes:
    root = ET.Element("testsuites", name=name)
    groups: dict[str, list[Verdict]] = {}
    for verdict in verdicts:
        groups.setdefault(verdict.check.group, []).append(verdict)
    for group, items in groups.items():
        suite = ET.SubElement(root, "testsuite", name=group, tests=str(len(items)),
                              failures=str(_count(items, Outcome.FAIL)), errors="0",
                              skipped=str(_count(items, Outcome.SKIP)),
                              time=f"{sum(v.duration for v in items):.3f}")
        for verdict in items:
            check, result = verdict.check, verdict.result
            case = ET.SubElement(suite, "testcase", classname=group, name=check.id,
                                 time=f"{verdict.duration:.3f}")
            # XML 1.0 cannot carry control characters: the peer's words (a version
            # name, a comment) are escaped as on the terminal
            text = "\n".join(peer_text(line, 2000) for line in (
                f"{check.title} ({check.reference})", *result.evidence))
            reason = peer_text(result.reason, 2000)
            if result.outcome is Outcome.FAIL:
                ET.SubElement(case, "failure", message=reason).text = text
            elif result.outcome is Outcome.SKIP:
                ET.SubElement(case, "skipped", message=reason)
            else:
                ET.SubElement(case, "system-out").text = text
    ET.indent(root)
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document + b"\n"


def _count(items: Sequence[Verdict], outcome: Outcome) -> int:
    return sum(1 for v in items if v.result.outcome is outcome)


def table(verdicts: Sequence[Verdict], *, width: int | None = None) -> str:
    """One block per check: id, result, reference, then the reason and evidence
    indented under it; the peer's own words escaped (they reach a terminal)."""
    width = width or min(shutil.get_terminal_size((100, 24)).columns, 120)
    id_width = max((len(v.check.id) for v in verdicts), default=10)
    lines = []
    for verdict in verdicts:
        check, result = verdict.check, verdict.result
        lines.append(f"{check.id:<{id_width}}  {result.outcome.value:<4}  {check.reference}")
        for text in (result.reason, *result.evidence):
            lines.extend(textwrap.wrap(peer_text(text, 1000), width,
                                       initial_indent=" " * (id_width + 8),
                                       subsequent_indent=" " * (id_width + 10)))
    counts = {o: sum(1 for v in verdicts if v.result.outcome is o) for o in Outcome}
    lines.append(f"{len(verdicts)} checks: {counts[Outcome.PASS]} passed, "
                 f"{counts[Outcome.FAIL]} failed, {counts[Outcome.SKIP]} skipped")
    return "\n".join(lines) + "\n"
