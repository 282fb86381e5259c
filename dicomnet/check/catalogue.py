"""Every check, by group, in the order they run: later groups use what earlier ones
learned (storage before query, so a ``--store`` run has studies to match)."""

from __future__ import annotations

from collections.abc import Sequence

from dicomnet.check import (
    association_checks,
    collision_checks,
    endurance_checks,
    matching_checks,
    negotiation_checks,
    query_checks,
    retrieve_checks,
    robustness_checks,
    service_checks,
    storage_checks,
    verification_checks,
)
from dicomnet.check.model import Check

GROUPS: dict[str, tuple[Check, ...]] = {
    # release-collision last: it stores (with --store) and moves one instance
    "association": association_checks.CHECKS + collision_checks.CHECKS,
    "negotiation": negotiation_checks.CHECKS,
    "verification": verification_checks.CHECKS,
    "storage": storage_checks.CHECKS,
    "query": query_checks.CHECKS,
    "matching": matching_checks.CHECKS,
    "retrieve": retrieve_checks.CHECKS,
    "services": service_checks.CHECKS,
    "robustness": robustness_checks.CHECKS,
    "endurance": endurance_checks.CHECKS,
}
#: Groups that change the peer or may harm it, and the option that asks for each.
OPT_IN = {"storage": "--store", "robustness": "--hostile", "endurance": "--hostile"}


def select(only: Sequence[str] = ()) -> list[Check]:
    """The checks of the groups (or single checks, by id) in ``only``; all by default.
    ValueError names what is unknown."""
    every = [c for checks in GROUPS.values() for c in checks]
    if not only:
        return every
    ids = {c.id for c in every}
    unknown = [name for name in only if name not in GROUPS and name not in ids]
    if unknown:
        raise ValueError(f"unknown group or check {', '.join(unknown)}; groups: "
                         f"{', '.join(GROUPS)}")
    return [c for c in every if c.group in only or c.id in only]
