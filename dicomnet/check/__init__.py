"""``dicomnet check``: a battery of conformance checks against a remote SCP.

A check (:class:`Check`) sends something, reads what came back, and returns PASS,
FAIL or SKIP with the reason and the evidence, citing the PS3.x section it tests.
:func:`run_checks` runs them in group order (association, verification, storage,
query, robustness); :mod:`dicomnet.check.report` writes the table, JSON and JUnit.
"""

from dicomnet.check.catalogue import GROUPS, select
from dicomnet.check.model import Check, CheckContext, Facts, Outcome, Result, Target
from dicomnet.check.runner import UnreachableError, Verdict, exit_status, run_checks

__all__ = ["GROUPS", "Check", "CheckContext", "Facts", "Outcome", "Result", "Target",
           "UnreachableError", "Verdict", "exit_status", "run_checks", "select"]
