"""DCMTK's tools, found for real: a test that asks for one and finds none fails with
the command that installs it, never skips (a suite that skips can pass by not testing)."""

from __future__ import annotations

import os
import shutil

__all__ = ["dcmtk_binary", "find_dcmtk"]


def find_dcmtk(name: str) -> str | None:
    """The path of DCMTK's ``name`` on PATH, or None.

    pynetdicom installs Python entry points with DCMTK's names (storescu, findscu,
    ...); with a virtual environment's bin/ first on PATH, ``shutil.which`` finds those
    and a test or benchmark would drive pynetdicom while saying DCMTK. DCMTK's tools
    are compiled programs, so anything starting with ``#!`` is passed over.
    """
    for folder in os.environ.get("PATH", os.defpath).split(os.pathsep):
        path = shutil.which(name, path=folder or ".")
        if path is None:
            continue
        try:
            with open(path, "rb") as program:
                if program.read(2) == b"#!":
                    continue
        except OSError:
            continue
        return path
    return None


def dcmtk_binary(name: str) -> str:
    """The path of DCMTK's ``name``; the calling test FAILS when it is not installed."""
    path = find_dcmtk(name)
    if path is None:
        import pytest  # only tests ask for a tool they cannot do without

        pytest.fail(f"DCMTK's {name} is not installed; run 'apt-get install -y dcmtk'. "
                    "A test that needs a peer never skips.")
    return path
