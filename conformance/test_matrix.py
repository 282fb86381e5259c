"""Every test the interoperability matrix (conformance/README.md) names exists."""

from __future__ import annotations

import re
from pathlib import Path

HERE = Path(__file__).parent


def test_matrix_names_only_real_tests() -> None:
    named = set(re.findall(r"`(test_[a-z0-9_]+)`", (HERE / "README.md").read_text()))
    defined = {match for path in HERE.glob("test_*.py")
               for match in re.findall(r"^(?:async )?def (test_[a-z0-9_]+)\(", path.read_text(),
                                          re.M)}
    assert named, "the matrix names no test"
    assert named <= defined, f"named but not defined: {sorted(named - defined)}"
