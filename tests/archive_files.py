"""What the tests look for in an archive's ``.incoming`` folder."""

from __future__ import annotations

from pathlib import Path

from dicomnet.archive import Archive


def partial_files(archive: Archive) -> list[Path]:
    """Files in ``archive.incoming`` other than its spare (an empty file kept ready for
    the next data set): data sets being received, or left behind by one that failed."""
    spare = archive.spare
    if spare is not None:
        assert spare.stat().st_size == 0, "the spare holds data"
    return [path for path in archive.incoming.iterdir() if path != spare]
