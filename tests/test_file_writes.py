"""Reading a file region into P-DATA write buffers (association._file_writes): the
scatter read (one preadv per write) gives exactly what plain reads give, and a file
that ends early is an error, never a short data set."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dicomnet.association import _file_writes
from dicomnet.dataset_io import FileRegion
from dicomnet.dimse import fragment_pieces


def _expected(data: bytes, size: int, prefix: bytes) -> bytes:
    return prefix + b"".join(bytes(p) for p in fragment_pieces(1, data, False, size))


@settings(max_examples=60, deadline=None)
@given(data=st.binary(min_size=0, max_size=70_000), offset=st.integers(0, 300),
       size=st.sampled_from([1, 7, 1000, 16_370, 1 << 20]),
       prefix=st.binary(max_size=50))
def test_scatter_and_sequential_reads_agree(tmp_path_factory: pytest.TempPathFactory,
                                            data: bytes, offset: int, size: int,
                                            prefix: bytes) -> None:
    path = tmp_path_factory.mktemp("region") / "file"
    path.write_bytes(bytes(offset) + data)
    expected = _expected(data, size, prefix)
    with path.open("rb") as os_file:  # preadv
        got = b"".join(_file_writes(1, FileRegion(os_file, offset, len(data)), size, prefix))
    assert got == expected
    memory = io.BytesIO(bytes(offset) + data)  # no file descriptor: readinto
    got = b"".join(_file_writes(1, FileRegion(memory, offset, len(data)), size, prefix))
    assert got == expected


@pytest.mark.parametrize("kind", ["os file", "in memory"])
def test_a_file_shorter_than_announced_is_an_error(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "short"
    path.write_bytes(b"x" * 5000)
    with path.open("rb") as handle:
        source = handle if kind == "os file" else io.BytesIO(handle.read())
        with pytest.raises(OSError, match="shorter"):
            b"".join(_file_writes(1, FileRegion(source, 0, 6000), 1000))
