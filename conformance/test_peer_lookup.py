"""The suite must drive DCMTK, not pynetdicom's programs of the same name.

pynetdicom installs ``storescu`` etc. as Python scripts in the virtual environment's
bin/; with that first on PATH (an activated environment), a plain PATH lookup would
pick them and every "DCMTK" row of the matrix would really test pynetdicom.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dicomnet.testing import find_dcmtk


def test_a_script_of_the_same_name_earlier_on_path_is_passed_over(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = find_dcmtk("storescu")
    assert real is not None, "DCMTK is required: apt-get install -y dcmtk"
    shadow = tmp_path / "storescu"
    shadow.write_text("#!/usr/bin/env python3\nraise SystemExit(1)\n")
    shadow.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{Path(real).parent}")
    assert shutil.which("storescu") == str(shadow)  # the trap is really set
    assert find_dcmtk("storescu") == real


def test_a_missing_tool_is_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_dcmtk("storescu") is None
