"""Reading a file region into P-DATA write buffers (association._file_writes): the
scatter read (one preadv per write) gives exactly what plain reads give, the PDUs carry
the data whole and in order within the peer's maximum, the first write is small, and a
file that ends early is an error, never a short data set."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dicomnet.association import _FIRST_WRITE, _WRITE_BATCH, _file_writes
from dicomnet.dataset_io import FileRegion
from dicomnet.pdu import PDataTF, PDUFramer


def _pdvs(writes: list[bytes | bytearray], prefix: bytes) -> list[tuple[bytes, bool]]:
    stream = b"".join(writes)
    assert stream.startswith(prefix)
    framer = PDUFramer(max_pdata_length=0)
    framer.feed(stream[len(prefix):])
    found = []
    while (pdu := framer.next_pdu()) is not None:
        assert isinstance(pdu, PDataTF)
        for pdv in pdu.pdvs:
            assert (pdv.context_id, pdv.is_command) == (1, False)
            found.append((bytes(pdv.data), pdv.is_last))
    assert framer.buffered == 0
    return found


@settings(max_examples=60, deadline=None)
@given(data=st.binary(min_size=0, max_size=200_000), offset=st.integers(0, 300),
       size=st.sampled_from([1000, 16_370, 1 << 20]),
       prefix=st.binary(max_size=50))
def test_scatter_and_sequential_reads_agree(tmp_path_factory: pytest.TempPathFactory,
                                            data: bytes, offset: int, size: int,
                                            prefix: bytes) -> None:
    path = tmp_path_factory.mktemp("region") / "file"
    path.write_bytes(bytes(offset) + data)
    with path.open("rb") as os_file:  # preadv
        writes = list(_file_writes(1, FileRegion(os_file, offset, len(data)), size, prefix))
    memory = io.BytesIO(bytes(offset) + data)  # no file descriptor: readinto
    assert list(_file_writes(1, FileRegion(memory, offset, len(data)), size, prefix)) \
        == writes
    pdvs = _pdvs(writes, prefix)
    assert b"".join(piece for piece, _ in pdvs) == data
    assert [last for _, last in pdvs] == [False] * (len(pdvs) - 1) + [True]
    assert all(len(piece) <= size for piece, _ in pdvs)
    if len(prefix) + len(data) + 12 <= _FIRST_WRITE:
        assert len(writes) == 1  # a small instance: one write
    else:  # the command with the data set's first PDUs, about _FIRST_WRITE in all
        assert len(writes[0]) <= _FIRST_WRITE
        assert len(writes[0]) > len(prefix)
    assert all(len(write) <= _WRITE_BATCH + size + 12 for write in writes)


def test_the_first_write_goes_out_before_the_rest_is_read(tmp_path: Path) -> None:
    # 1 MiB PDUs, 600 kB: the peer gets the command with a first PDU of ~64 KiB to
    # work on while the rest is read; then PDUs as large as a batch allows.
    path = tmp_path / "big"
    path.write_bytes(bytes(600_000))
    with path.open("rb") as handle:
        writes = list(_file_writes(1, FileRegion(handle, 0, 600_000), 1 << 20, b"cmd"))
    assert writes[0].startswith(b"cmd")
    assert len(writes[0]) == _FIRST_WRITE
    assert len(writes) == 3
    assert [len(piece) for piece, _ in _pdvs(writes, b"cmd")] == \
        [_FIRST_WRITE - 3 - 12, _WRITE_BATCH - 12, 600_000 - (_FIRST_WRITE - 3 - 12)
         - (_WRITE_BATCH - 12)]


@pytest.mark.parametrize("kind", ["os file", "in memory"])
def test_a_file_shorter_than_announced_is_an_error(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "short"
    path.write_bytes(b"x" * 5000)
    with path.open("rb") as handle:
        source = handle if kind == "os file" else io.BytesIO(handle.read())
        with pytest.raises(OSError, match="shorter"):
            b"".join(_file_writes(1, FileRegion(source, 0, 6000), 1000))
