"""PDUFramer: any chunking gives the same PDUs; limits are enforced from the header."""

from __future__ import annotations

import struct
import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pdu_strategies import any_pdu

from dicomnet.errors import PDUError, PDUTooLargeError
from dicomnet.pdu import (
    PDU,
    PDV,
    AAbort,
    AAssociateRQ,
    AReleaseRQ,
    PDataTF,
    PDUFramer,
    PresentationContextRQ,
    encode_pdu,
)

LIMIT = 1 << 16
SAMPLE: list[PDU] = [
    AAssociateRQ("SCP", "SCU", (PresentationContextRQ(1, "1.2.3", ("1.2.840.10008.1.2",)),)),
    PDataTF((PDV(1, True, True, b"\x00" * 100), PDV(1, False, False, b"x" * 5000))),
    PDataTF((PDV(3, False, True, b""),)),
    AReleaseRQ(),
    AAbort(2, 6),
]


def _drain(framer: PDUFramer) -> list[PDU]:
    out = []
    while (pdu := framer.next_pdu()) is not None:
        out.append(pdu)
    return out


def _feed_in_chunks(data: bytes, cuts: list[int]) -> list[PDU]:
    framer = PDUFramer(max_pdata_length=LIMIT)
    received: list[PDU] = []
    start = 0
    for cut in [*sorted(set(cuts)), len(data)]:
        framer.feed(memoryview(data)[start:cut])
        start = cut
        received += _drain(framer)
    assert framer.buffered == 0
    assert framer.next_pdu() is None
    return received


def test_one_byte_at_a_time() -> None:
    data = b"".join(encode_pdu(pdu) for pdu in SAMPLE)
    framer = PDUFramer(max_pdata_length=LIMIT)
    received: list[PDU] = []
    for i in range(len(data)):
        framer.feed(data[i:i + 1])
        received += _drain(framer)
    assert received == SAMPLE
    assert framer.buffered == 0


def test_all_at_once() -> None:
    data = b"".join(encode_pdu(pdu) for pdu in SAMPLE)
    framer = PDUFramer(max_pdata_length=LIMIT)
    framer.feed(data)
    assert framer.buffered == len(data)
    assert _drain(framer) == SAMPLE
    assert framer.buffered == 0


def test_next_pdu_waits_for_the_rest() -> None:
    data = encode_pdu(AReleaseRQ())
    framer = PDUFramer(max_pdata_length=LIMIT)
    assert framer.next_pdu() is None
    framer.feed(data[:6])
    assert framer.next_pdu() is None
    assert framer.buffered == 6
    framer.feed(data[6:])
    assert framer.next_pdu() == AReleaseRQ()
    assert framer.next_pdu() is None


@settings(max_examples=300, deadline=None)
@given(pdus=st.lists(any_pdu, min_size=1, max_size=6),
       cuts=st.lists(st.integers(0, 4000), max_size=30))
def test_random_chunkings_give_the_same_pdus(pdus: list[PDU], cuts: list[int]) -> None:
    data = b"".join(encode_pdu(pdu) for pdu in pdus)
    assert _feed_in_chunks(data, [c for c in cuts if c < len(data)]) == pdus


def test_many_pdus_after_a_large_one_compact_the_buffer() -> None:
    big = PDataTF((PDV(1, False, True, bytes(LIMIT - 6)),))
    small = PDataTF((PDV(1, True, True, b"ab"),))
    data = (encode_pdu(big) + encode_pdu(small) * 2000) * 3
    framer = PDUFramer(max_pdata_length=LIMIT)
    count = 0
    for start in range(0, len(data), 40_000):
        framer.feed(data[start:start + 40_000])
        count += len(_drain(framer))
        assert framer.buffered < 40_000 + LIMIT
    assert count == 3 * 2001


# -- limits ---------------------------------------------------------------------------------


def test_huge_length_is_refused_after_six_bytes_without_allocating() -> None:
    header = struct.pack(">BBL", 0x04, 0, 0xFFFFFFFF)
    framer = PDUFramer(max_pdata_length=LIMIT)
    tracemalloc.start()
    try:
        for i in range(5):
            framer.feed(header[i:i + 1])
            assert framer.next_pdu() is None
        framer.feed(header[5:])
        with pytest.raises(PDUTooLargeError) as caught:
            framer.next_pdu()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024
    assert framer.buffered <= 6
    error = caught.value
    assert (error.length, error.maximum, error.pdu_type) == (0xFFFFFFFF, LIMIT, 0x04)
    assert error.field == "PDU-length"
    # Framing is lost: the error stays, and nothing more is buffered.
    framer.feed(bytes(1000))
    assert framer.buffered == 0
    with pytest.raises(PDUTooLargeError):
        framer.next_pdu()


@pytest.mark.parametrize(("pdu_type", "length", "refused"), [
    (0x04, LIMIT, False),
    (0x04, LIMIT + 1, True),
    (0x01, 1000, False),
    (0x01, 1001, True),
    (0x02, 1001, True),
    (0x07, 1001, True),
])
def test_limit_depends_on_the_pdu_type(pdu_type: int, length: int, refused: bool) -> None:
    # P-DATA-TF is bounded by max_pdata_length (the Maximum Length the local side
    # announces, PS3.8 Annex D.1), every other type by max_other_length.
    framer = PDUFramer(max_pdata_length=LIMIT, max_other_length=1000)
    framer.feed(struct.pack(">BBL", pdu_type, 0, length))
    if refused:
        with pytest.raises(PDUTooLargeError):
            framer.next_pdu()
    else:
        assert framer.next_pdu() is None  # waiting for the body


def test_a_pdu_exactly_at_the_limit_is_delivered() -> None:
    pdu = PDataTF((PDV(1, False, True, bytes(LIMIT - 6)),))
    data = encode_pdu(pdu)
    assert len(data) == 6 + LIMIT
    framer = PDUFramer(max_pdata_length=LIMIT)
    framer.feed(data)
    assert framer.next_pdu() == pdu


def test_zero_means_no_limit() -> None:
    framer = PDUFramer(max_pdata_length=0, max_other_length=0)
    framer.feed(struct.pack(">BBL", 0x04, 0, 0xFFFFFFFF))
    assert framer.next_pdu() is None


def test_negative_limits_are_a_programming_error() -> None:
    with pytest.raises(ValueError, match="negative"):
        PDUFramer(max_pdata_length=-1)


@pytest.mark.parametrize("first_byte", [0x00, 0x08, 0x41, 0xFF])
def test_unknown_pdu_type_is_refused_at_its_first_byte(first_byte: int) -> None:
    framer = PDUFramer(max_pdata_length=LIMIT)
    framer.feed(bytes([first_byte]))
    with pytest.raises(PDUError) as caught:
        framer.next_pdu()
    assert caught.value.field == "PDU-type"
    assert not isinstance(caught.value, PDUTooLargeError)


def test_unknown_type_after_a_good_pdu() -> None:
    framer = PDUFramer(max_pdata_length=LIMIT)
    framer.feed(encode_pdu(AReleaseRQ()) + b"\x09")
    assert framer.next_pdu() == AReleaseRQ()
    with pytest.raises(PDUError, match="0x09"):
        framer.next_pdu()


def test_a_malformed_body_is_consumed_and_framing_goes_on() -> None:
    bad = struct.pack(">BBL", 0x05, 0, 5) + bytes(5)  # A-RELEASE-RQ is 4 bytes long
    framer = PDUFramer(max_pdata_length=LIMIT)
    framer.feed(bad + encode_pdu(AAbort()))
    with pytest.raises(PDUError) as caught:
        framer.next_pdu()
    assert caught.value.field == "A-RELEASE-RQ.length"
    assert framer.next_pdu() == AAbort()


def test_small_pdus_are_copies_that_pin_nothing() -> None:
    # A small PDU is copied out, so its PDVs do not keep the received chunk alive.
    framer = PDUFramer(max_pdata_length=LIMIT)
    data = encode_pdu(PDataTF((PDV(1, True, True, b"abc"),)))
    framer.feed(data + data[:3])
    first = framer.next_pdu()
    framer.feed(data[3:] + data)
    assert _drain(framer) == [first, first]
    assert isinstance(first, PDataTF)
    assert bytes(first.pdvs[0].data) == b"abc"


def test_a_large_pdu_inside_one_chunk_is_not_copied() -> None:
    data = encode_pdu(PDataTF((PDV(1, False, True, bytes(LIMIT - 6)),)))
    received = data + encode_pdu(AReleaseRQ())
    framer = PDUFramer(max_pdata_length=LIMIT)
    framer.feed(received)
    pdu = framer.next_pdu()
    assert isinstance(pdu, PDataTF)
    view = pdu.pdvs[0].data
    assert isinstance(view, memoryview) and view.obj is received
    assert framer.next_pdu() == AReleaseRQ()


def test_what_the_caller_changes_after_feeding_does_not_change_the_pdu() -> None:
    # A bytearray (or a view of one) may be reused by its owner once feed returns.
    pdu = PDataTF((PDV(1, False, True, bytes(range(256)) * 300),))
    for size in (100, 10_000, 100_000):
        data = bytearray(encode_pdu(pdu))
        framer = PDUFramer(max_pdata_length=1 << 20)
        for start in range(0, len(data), size):
            piece = memoryview(data)[start:start + size]
            framer.feed(piece)
            piece[:] = bytes(len(piece))  # the owner reuses its buffer
        assert framer.next_pdu() == pdu


def test_a_pdu_dripped_byte_by_byte_costs_about_its_size_in_memory() -> None:
    # Small pieces are gathered, not kept as one object each (some 40 bytes apiece).
    data = encode_pdu(PDataTF((PDV(1, False, True, bytes(LIMIT - 6)),)))
    framer = PDUFramer(max_pdata_length=LIMIT)
    tracemalloc.start()
    try:
        for i in range(len(data) - 1):
            framer.feed(data[i:i + 1])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert framer.next_pdu() is None
    assert peak < 3 * len(data)
    framer.feed(data[-1:])
    assert framer.next_pdu() == PDataTF((PDV(1, False, True, bytes(LIMIT - 6)),))
