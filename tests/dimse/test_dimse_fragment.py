"""Fragmenting a message into P-DATA-TF PDUs (PS3.7 §6.3.1, PS3.8 §9.3.5, Annex D.1, E.2)."""

from __future__ import annotations

import struct

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from dicomnet.dimse import (
    fragment_message,
    fragment_pieces,
    max_fragment_size,
    pdata_header,
    pdata_pdu,
)
from dicomnet.dimse.fragment import PDV_OVERHEAD
from dicomnet.pdu import PDV, PDataTF, decode_pdu, encode_pdu

CAP = 4 * 1024 * 1024

#: Peer maximum lengths: 0 (no limit), the tiny ones, the usual ones, anything between.
peer_maxima = st.sampled_from([0, 7, 8, 9, 16, 17, 64, 4096, 16384, 65536]) | st.integers(
    7, 3000)


def _pdvs(pdu: bytes) -> tuple[PDV, ...]:
    decoded = decode_pdu(pdu)
    assert isinstance(decoded, PDataTF)
    return decoded.pdvs


def _check_message(pdus: list[bytes], context_id: int, command: bytes,
                   dataset: bytes | None, peer_max: int) -> None:
    """The invariants every fragmented message keeps."""
    limit = peer_max if peer_max else CAP + PDV_OVERHEAD
    pdvs = []
    for pdu in pdus:
        assert pdu[0] == 0x04
        # PS3.8 D.1: the maximum length bounds the PDU's variable field, i.e. the value
        # of its PDU-length field, which must equal what follows the 6-byte header.
        (length,) = struct.unpack_from(">I", pdu, 2)
        assert length == len(pdu) - 6
        assert length <= limit
        (pdv,) = _pdvs(pdu)  # exactly one PDV per PDU: commands and data never mix
        assert pdv.context_id == context_id
        pdvs.append(pdv)
    commands = [p for p in pdvs if p.is_command]
    data = [p for p in pdvs if not p.is_command]
    # All command fragments first, then data set fragments (PS3.7 §6.3.1).
    assert pdvs == commands + data
    assert b"".join(bytes(p.data) for p in commands) == command
    assert [p.is_last for p in commands] == [False] * (len(commands) - 1) + [True]
    if dataset is None:
        assert not data
    else:
        assert b"".join(bytes(p.data) for p in data) == dataset
        assert [p.is_last for p in data] == [False] * (len(data) - 1) + [True]
    size = max_fragment_size(peer_max)
    for group, whole in ((commands, command), (data, dataset)):
        if whole is None:
            continue
        # Every fragment but the last is full: no more PDUs than needed.
        assert all(len(p.data) == size for p in group[:-1])
        assert len(group) == max(1, -(-len(whole) // size))


@settings(max_examples=300, deadline=None)
@given(context_id=st.integers(0, 127).map(lambda n: 2 * n + 1),
       command=st.binary(min_size=1, max_size=300),
       dataset=st.none() | st.binary(max_size=3000),
       peer_max=peer_maxima)
@example(context_id=1, command=b"\x00" * 100, dataset=b"", peer_max=7)
@example(context_id=255, command=b"\x01" * 10, dataset=b"\x02" * 10, peer_max=16)
@example(context_id=1, command=b"c", dataset=b"d" * 1000, peer_max=0)
def test_fragment_message(context_id: int, command: bytes, dataset: bytes | None,
                          peer_max: int) -> None:
    pdus = list(fragment_message(context_id, command, dataset, peer_max))
    assert all(isinstance(pdu, bytes) for pdu in pdus)
    _check_message(pdus, context_id, command, dataset, peer_max)


@pytest.mark.parametrize("peer_max", [0, 7, 16, 100, 16384])
def test_empty_data_set_is_one_empty_last_pdv(peer_max: int) -> None:
    pdus = list(fragment_message(3, b"\x00" * 20, b"", peer_max))
    (last,) = _pdvs(pdus[-1])
    assert not last.is_command
    assert last.is_last
    assert bytes(last.data) == b""
    assert pdus[-1] == bytes.fromhex("04 00 00000006 00000002 03 02")
    assert sum(not _pdvs(p)[0].is_command for p in pdus) == 1


@pytest.mark.parametrize("dataset", [None, b"", b"\x00\x01"])
def test_no_data_set_means_no_data_pdv(dataset: bytes | None) -> None:
    pdvs = [_pdvs(p)[0] for p in fragment_message(1, b"ab", dataset, 0)]
    assert pdvs[0] == PDV(1, True, True, pdvs[0].data)
    assert len(pdvs) == (1 if dataset is None else 2)


def test_peer_max_zero_sends_whole_messages_up_to_the_cap() -> None:
    command = b"\x10" * 200
    dataset = bytes(range(256)) * 100
    pdus = list(fragment_message(1, command, dataset, 0))
    assert len(pdus) == 2
    _check_message(pdus, 1, command, dataset, 0)
    # Beyond the cap, even an unlimited peer gets several PDUs.
    big = b"\xab" * (CAP + 10)
    pdus = list(fragment_message(1, command, big, 0))
    assert len(pdus) == 3
    assert [len(_pdvs(p)[0].data) for p in pdus[1:]] == [CAP, 10]
    _check_message(pdus, 1, command, big, 0)


def test_smallest_peer_max_sends_one_byte_per_pdu() -> None:
    pdus = list(fragment_message(1, b"abcd", b"xyz", 7))
    assert len(pdus) == 7
    assert all(len(p) == 13 for p in pdus)  # 6 header + 4 item length + 2 + 1 byte


def test_accepts_bytearray_and_memoryview() -> None:
    dataset = bytearray(range(200))
    expected = list(fragment_message(1, b"cmd!", bytes(dataset), 50))
    assert list(fragment_message(1, b"cmd!", dataset, 50)) == expected
    assert list(fragment_message(1, b"cmd!", memoryview(dataset), 50)) == expected


# -- max_fragment_size ------------------------------------------------------------------------


@pytest.mark.parametrize(("peer_max", "size"), [
    (0, CAP),                      # no limit: our own cap
    (-1, CAP),
    (8, 2),                        # the smallest PDU that carries an even fragment
    (16, 10),
    (4097, 4090),                  # odd maximum: even fragments (PS3.8 Annex E.1)
    (16384, 16378),
    (16385, 16378),
    (CAP, CAP - PDV_OVERHEAD),
    (CAP + PDV_OVERHEAD, CAP),
    (CAP + 1000, CAP),
    (0xFFFFFFFF, CAP),
    (7, 1),                        # the smallest PDU that carries a byte
    (1, 1),                        # impossible limits still make progress
    (6, 1),
])
def test_max_fragment_size(peer_max: int, size: int) -> None:
    assert max_fragment_size(peer_max) == size


@given(peer_max=st.integers(8, 2**32 - 1), cap=st.integers(2, 2**24))
def test_max_fragment_size_fits(peer_max: int, cap: int) -> None:
    size = max_fragment_size(peer_max, cap=cap)
    assert 2 <= size <= cap
    assert size % 2 == 0
    assert size + PDV_OVERHEAD <= peer_max
    # and is the largest even size that does, unless the cap is smaller
    assert size >= cap - 1 or size + PDV_OVERHEAD >= peer_max - 1


def test_max_fragment_size_cap_applies_to_unlimited_peers() -> None:
    assert max_fragment_size(0, cap=1000) == 1000
    assert max_fragment_size(500, cap=1000) == 494


# -- headers and pieces -----------------------------------------------------------------------


@pytest.mark.parametrize(("is_command", "is_last", "control"),
                         [(False, False, 0), (True, False, 1), (False, True, 2),
                          (True, True, 3)])
def test_pdata_header_known_bytes(is_command: bool, is_last: bool, control: int) -> None:
    """PS3.8 Table 9-22/9-23, Annex E.2: type 04, reserved, PDU length (big endian);
    PDV item length, context ID, message control header."""
    header = pdata_header(5, is_command, is_last, 10)
    assert header == bytes([0x04, 0x00, 0, 0, 0, 16, 0, 0, 0, 12, 5, control])
    assert len(header) == 12


@given(context_id=st.integers(0, 127).map(lambda n: 2 * n + 1), is_command=st.booleans(),
       is_last=st.booleans(), fragment=st.binary(max_size=500))
def test_pdata_pdu_is_the_pdu_codec_encoding(context_id: int, is_command: bool,
                                             is_last: bool, fragment: bytes) -> None:
    pdu = pdata_pdu(context_id, is_command, is_last, fragment)
    assert pdu == encode_pdu(PDataTF((PDV(context_id, is_command, is_last, fragment),)))
    assert decode_pdu(pdu) == PDataTF((PDV(context_id, is_command, is_last, fragment),))
    assert pdata_pdu(context_id, is_command, is_last, memoryview(fragment)) == pdu


@given(data=st.binary(max_size=2000), size=st.integers(1, 600), is_command=st.booleans())
def test_fragment_pieces_join_to_the_pdus(data: bytes, size: int, is_command: bool) -> None:
    pieces = list(fragment_pieces(3, data, is_command, size))
    joined = b"".join(pieces)
    expected = b"".join(
        pdata_pdu(3, is_command, end >= len(data), data[start:end])
        for start, end in ((s, min(s + size, len(data))) for s in range(0, len(data), size))
    ) if data else pdata_pdu(3, is_command, True, b"")
    assert joined == expected


def test_fragment_pieces_do_not_copy_the_data() -> None:
    data = bytearray(b"0123456789" * 10)
    pieces = list(fragment_pieces(1, data, False, 30))
    headers, fragments = pieces[0::2], pieces[1::2]
    assert all(isinstance(h, bytes) and len(h) == 12 for h in headers)
    assert len(fragments) == 4
    for fragment in fragments:
        assert isinstance(fragment, memoryview)
        assert fragment.obj is data  # a view into the caller's buffer
    assert [bytes(f) for f in fragments] == [bytes(data[i:i + 30]) for i in range(0, 100, 30)]
