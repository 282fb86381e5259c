"""Reading a file region into P-DATA write buffers (outgoing._file_writes): the
scatter read (one preadv per write) gives exactly what plain reads give, the PDUs carry
the data whole and in order within the peer's maximum, the first write is small, and a
file that ends early is an error, never a short data set."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dicomnet.acse import AcceptedContext
from dicomnet.dataset_io import FileRegion
from dicomnet.dimse import CStoreRQ
from dicomnet.outgoing import _FIRST_WRITE, _WRITE_BATCH, OutgoingMessage, _file_writes
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
    # work on while the rest is read; then PDUs as large as a batch allows. (A command
    # set is always of even length, PS3.7 §6.3.1, and so are the fragments.)
    path = tmp_path / "big"
    path.write_bytes(bytes(600_000))
    with path.open("rb") as handle:
        writes = list(_file_writes(1, FileRegion(handle, 0, 600_000), 1 << 20, b"cmd!"))
    assert writes[0].startswith(b"cmd!")
    assert len(writes[0]) == _FIRST_WRITE
    assert len(writes) == 3
    assert [len(piece) for piece, _ in _pdvs(writes, b"cmd!")] == \
        [_FIRST_WRITE - 4 - 12, _WRITE_BATCH - 12, 600_000 - (_FIRST_WRITE - 4 - 12)
         - (_WRITE_BATCH - 12)]


@pytest.mark.parametrize("kind", ["os file", "in memory"])
def test_a_file_shorter_than_announced_is_an_error(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "short"
    path.write_bytes(b"x" * 5000)
    with path.open("rb") as handle:
        source = handle if kind == "os file" else io.BytesIO(handle.read())
        with pytest.raises(OSError, match="shorter"):
            b"".join(_file_writes(1, FileRegion(source, 0, 6000), 1000))


def test_an_outgoing_message_reads_its_first_write_when_made(tmp_path: Path) -> None:
    # What prepare() promises: the command encoded and the file's first bytes read
    # before any sending, the rest read as the writes are taken, and only once.
    path = tmp_path / "data"
    path.write_bytes(bytes(range(256)) * 1000)
    context = AcceptedContext(context_id=3, abstract_syntax="1.2.840.10008.5.1.4.1.1.2",
                              transfer_syntax="1.2.840.10008.1.2.1")
    message = CStoreRQ(message_id=7, affected_sop_class_uid=context.abstract_syntax,
                       affected_sop_instance_uid="1.2.3", has_dataset=False)
    with path.open("rb") as handle:
        reads: list[int] = []
        real = os.preadv

        def preadv(fd: int, buffers: list[memoryview], offset: int) -> int:
            reads.append(offset)
            return real(fd, buffers, offset)

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(os, "preadv", preadv)
            outgoing = OutgoingMessage(context, message, FileRegion(handle, 0, 256_000),
                                       16_384)
            assert reads == [0]  # the first write, read at once
            writes = list(outgoing.writes())
        assert len(reads) == len(writes) == 2
        with pytest.raises(RuntimeError, match="once"):
            next(outgoing.writes())
    assert outgoing.message.has_dataset  # Command Data Set Type says what follows
    assert outgoing.dataset_size == 256_000
    framer = PDUFramer(max_pdata_length=0)
    framer.feed(b"".join(writes))
    data = b""
    while (pdu := framer.next_pdu()) is not None:
        assert isinstance(pdu, PDataTF)
        data += b"".join(bytes(pdv.data) for pdv in pdu.pdvs
                         if not pdv.is_command and pdv.context_id == 3)
    assert data == path.read_bytes()
