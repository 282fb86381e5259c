"""FileRegion.prefetch: a hint to the kernel, capped, and silent where it cannot apply."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from dicomnet.dataset_io import FileRegion


def test_prefetch_asks_for_the_region_up_to_the_limit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[int, int, int]] = []
    monkeypatch.setattr(os, "posix_fadvise",
                        lambda fd, offset, length, advice: calls.append((offset, length, advice)),
                        raising=False)
    path = tmp_path / "data"
    path.write_bytes(b"x" * 1000)
    with path.open("rb") as file:
        FileRegion(file, 100, 900).prefetch()
        FileRegion(file, 100, 900).prefetch(limit=64)
    assert calls == [(100, 900, os.POSIX_FADV_WILLNEED), (100, 64, os.POSIX_FADV_WILLNEED)]


def test_prefetch_is_silent_without_a_real_file(tmp_path: Path) -> None:
    FileRegion(io.BytesIO(b"data"), 0, 4).prefetch()  # no fileno
    path = tmp_path / "data"
    path.write_bytes(b"data")
    file = path.open("rb")
    file.close()
    FileRegion(file, 0, 4).prefetch()  # closed: ValueError, swallowed
    with path.open("rb") as real:
        FileRegion(real, 0, 4).prefetch()  # the real call, where the platform has it
