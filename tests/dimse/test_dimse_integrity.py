"""The structure check of a received data set (dicomnet.dimse.integrity).

Its promise: every whole data set passes, however it is cut into fragments; a data set
that ends before its structure does fails, with a reason. Checked against every file
of pydicom's test data (real files from many writers, a few of them known to be
damaged) and against random data sets built with pydicom and encoded in each kind of
transfer syntax, with every proper prefix.
"""

from __future__ import annotations

import itertools
import struct
import time
import warnings
import zlib
from pathlib import Path

import pydicom
import pydicom.filereader
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset
from pydicom.sequence import Sequence

from dicomnet.dimse.integrity import (
    MALFORMED,
    MAX_DEPTH,
    TRUNCATED,
    UNDECODABLE,
    Damage,
    StructureChecker,
)
from dicomnet.part10 import Part10Error, read_header

IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
EXPLICIT_BE = "1.2.840.10008.1.2.2"
DEFLATED = "1.2.840.10008.1.2.1.99"
JPEG_BASELINE = "1.2.840.10008.1.2.4.50"
SYNTAXES = [IMPLICIT_LE, EXPLICIT_LE, EXPLICIT_BE]

TEST_FILES = Path(str(get_testdata_file("CT_small.dcm"))).parent
#: pydicom's test files that are not whole, valid data sets, and why:
DAMAGED_FILES = {
    # README: truncated copies of MR_small.dcm and rtplan.dcm.
    "MR_truncated.dcm": TRUNCATED,  # the pixel data is 62 bytes short
    "rtplan_truncated.dcm": TRUNCATED,  # ends inside a sequence item's value
    # CT_small's data set behind one stray byte: pydicom reads one garbage element.
    "no_meta.dcm": TRUNCATED,
    # Implicit VR data although its transfer syntax (JPEG Baseline) is explicit VR:
    # pydicom guesses and reads it anyway; on the network it is not in its syntax.
    "SC_rgb_jpeg.dcm": MALFORMED,
}


def check(data: bytes, syntax: str, chunk: int | None = None) -> Damage | None:
    checker = StructureChecker(syntax)
    step = chunk or max(len(data), 1)
    view = memoryview(data)
    for start in range(0, len(data), step):
        checker.feed(view[start:start + step])
    return checker.finish()


def dataset_of(path: Path) -> tuple[str, bytes]:
    """(transfer syntax, data set bytes) of a test file, meta or no meta."""
    try:
        with open(path, "rb") as fp:
            header = read_header(fp)
            fp.seek(header.dataset_offset)
            return header.transfer_syntax, fp.read()
    except Part10Error:
        pass
    # No meta, or a meta without a transfer syntax: pydicom finds the encoding and
    # where the meta ends.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(path, force=True)
    implicit, little = ds.original_encoding
    syntax = IMPLICIT_LE if implicit else EXPLICIT_LE if little else EXPLICIT_BE
    with open(path, "rb") as fp:
        pydicom.filereader.read_preamble(fp, True)
        pydicom.filereader._read_file_meta_info(fp)
        return syntax, fp.read()


CORPUS = sorted(p.name for p in TEST_FILES.glob("*.dcm"))


def test_the_corpus_holds_the_damaged_files_and_many_more() -> None:
    assert set(DAMAGED_FILES) <= set(CORPUS)
    assert len(CORPUS) > 60


@pytest.mark.parametrize("name", CORPUS)
def test_every_pydicom_test_file_is_judged_right_in_any_chunking(name: str) -> None:
    syntax, data = dataset_of(TEST_FILES / name)
    verdicts = {chunk: check(data, syntax, chunk) for chunk in (None, 1, 7, 4096)}
    if name in DAMAGED_FILES:
        for verdict in verdicts.values():
            assert verdict is not None
            assert verdict.status == DAMAGED_FILES[name], verdict
        assert len(set(verdicts.values())) == 1, verdicts
    else:
        assert set(verdicts.values()) == {None}, verdicts


# -- random data sets --------------------------------------------------------------------

_TEXT = st.text(alphabet="ABCDEFGHIJ0123456789^", max_size=16)
_UIDS = st.lists(st.integers(1, 99999), min_size=2, max_size=8).map(
    lambda parts: ".".join(map(str, parts)))


def _encode(ds: Dataset, syntax: str) -> bytes:
    buffer = DicomBytesIO()
    buffer.is_implicit_VR = syntax == IMPLICIT_LE
    buffer.is_little_endian = syntax != EXPLICIT_BE
    write_dataset(buffer, ds)
    return buffer.getvalue()


def _defined_length_sequence(tag: int, items: list[tuple[Dataset, bool]], syntax: str
                             ) -> bytes:
    """A sequence of defined length (pydicom writes undefined ones), with items of
    defined or undefined length (PS3.5 §7.5.1)."""
    order = ">" if syntax == EXPLICIT_BE else "<"
    body = b""
    for item, defined in items:
        content = _encode(item, syntax)
        if defined:
            body += struct.pack(order + "HHI", 0xFFFE, 0xE000, len(content)) + content
        else:
            body += struct.pack(order + "HHI", 0xFFFE, 0xE000, 0xFFFFFFFF) + content \
                + struct.pack(order + "HHI", 0xFFFE, 0xE00D, 0)
    if syntax == IMPLICIT_LE:
        return struct.pack("<HHI", tag >> 16, tag & 0xFFFF, len(body)) + body
    return struct.pack(order + "HH2sHI", tag >> 16, tag & 0xFFFF, b"SQ", 0, len(body)) + body


@st.composite
def items(draw: st.DrawFn, depth: int = 0) -> Dataset:
    item = Dataset()
    item.ReferencedSOPInstanceUID = draw(_UIDS)
    if depth < 2 and draw(st.booleans()):
        item.ReferencedImageSequence = Sequence(draw(st.lists(items(depth + 1),
                                                              max_size=2)))
    return item


@st.composite
def encoded_datasets(draw: st.DrawFn) -> tuple[str, bytes, list[int]]:
    """(syntax, data set bytes, the offsets where its top-level elements end)."""
    syntax = draw(st.sampled_from([*SYNTAXES, JPEG_BASELINE]))
    elements: list[bytes] = []

    def add(ds: Dataset) -> None:
        elements.append(_encode(ds, EXPLICIT_LE if syntax == JPEG_BASELINE else syntax))

    for keyword in ("SOPClassUID", "SOPInstanceUID"):
        one = Dataset()
        setattr(one, keyword, draw(_UIDS))
        add(one)
    for keyword in draw(st.lists(st.sampled_from(
            ["PatientName", "PatientID", "StudyDescription", "AccessionNumber"]),
            unique=True)):
        one = Dataset()
        setattr(one, keyword, draw(_TEXT))
        add(one)
    sequence = draw(st.sampled_from(["none", "undefined", "defined"]))
    if sequence == "undefined":
        one = Dataset()
        one.ReferencedSeriesSequence = Sequence(draw(st.lists(items(), max_size=3)))
        add(one)
    elif sequence == "defined":
        listed = draw(st.lists(st.tuples(items(), st.booleans()), max_size=3))
        elements.append(_defined_length_sequence(
            0x00081115, listed, EXPLICIT_LE if syntax == JPEG_BASELINE else syntax))
    one = Dataset()
    if syntax == JPEG_BASELINE:
        frames = draw(st.lists(st.binary(min_size=2, max_size=60).map(
            lambda b: b + b"\x00" * (len(b) % 2)), min_size=1, max_size=3))
        one.PixelData = encapsulate(frames, has_bot=draw(st.booleans()))
        one["PixelData"].VR = "OB"
        one["PixelData"].is_undefined_length = True
        add(one)
    elif draw(st.booleans()):
        one.PixelData = draw(st.binary(max_size=200).map(lambda b: b + b"\x00" * (len(b) % 2)))
        one["PixelData"].VR = draw(st.sampled_from(["OB", "OW"]))
        add(one)
    ends = []
    total = 0
    for element in elements:
        total += len(element)
        ends.append(total)
    return syntax, b"".join(elements), ends


def _chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


@settings(max_examples=150, deadline=None)
@given(encoded=encoded_datasets(), cuts=st.lists(st.integers(0, 10_000), max_size=12))
def test_a_whole_data_set_passes_in_every_chunking(
        encoded: tuple[str, bytes, list[int]], cuts: list[int]) -> None:
    syntax, data, _ends = encoded
    checker = StructureChecker(syntax)
    for chunk in _chunked(data, cuts):
        checker.feed(chunk)
    assert checker.finish() is None
    deflater = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    if syntax == EXPLICIT_LE:  # the same data set deflated (PS3.5 §A.5)
        deflated = deflater.compress(data) + deflater.flush()
        checker = StructureChecker(DEFLATED)
        for chunk in _chunked(deflated, cuts):
            checker.feed(chunk)
        assert checker.finish() is None


@settings(max_examples=60, deadline=None)
@given(encoded=encoded_datasets())
def test_every_proper_prefix_is_damaged_unless_it_ends_between_top_level_elements(
        encoded: tuple[str, bytes, list[int]]) -> None:
    """A cut exactly after a top-level element leaves a data set that is whole, only
    shorter (nothing in its bytes says more should follow: PS3.5 §7 has no overall
    length); every other cut, in a header, a value, a sequence or the pixel data, is
    damage."""
    syntax, data, ends = encoded
    for cut in range(1, len(data)):
        verdict = check(data[:cut], syntax)
        if cut in ends:
            assert verdict is None, (cut, verdict)
        else:
            assert verdict is not None, f"a cut at {cut} of {len(data)} passed"
            assert verdict.status == TRUNCATED, (cut, verdict)


@settings(max_examples=30, deadline=None)
@given(encoded=encoded_datasets())
def test_every_proper_prefix_of_a_deflate_stream_is_undecodable(
        encoded: tuple[str, bytes, list[int]]) -> None:
    syntax, data, _ends = encoded
    if syntax != EXPLICIT_LE:
        return
    deflater = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    deflated = deflater.compress(data) + deflater.flush()
    assert check(deflated, DEFLATED) is None
    for cut in range(len(deflated)):
        verdict = check(deflated[:cut], DEFLATED)
        assert verdict is not None and verdict.status in (UNDECODABLE, MALFORMED), cut


# -- damage, case by case ----------------------------------------------------------------

def _element(group: int, element: int, vr: bytes, value: bytes, length: int | None = None
             ) -> bytes:
    length = len(value) if length is None else length
    if vr in (b"OB", b"OW", b"SQ", b"UN", b"UT"):
        return struct.pack("<HH2sHI", group, element, vr, 0, length) + value
    return struct.pack("<HH2sH", group, element, vr, length) + value


UID = _element(0x0008, 0x0018, b"UI", b"1.2.3.4\x00")
ITEM = struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF)
ITEM_END = struct.pack("<HHI", 0xFFFE, 0xE00D, 0)
SEQUENCE_END = struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)


@pytest.mark.parametrize(("data", "status", "words"), [
    (UID + _element(0x0010, 0x0010, b"PN", b"DOE^J", 40), TRUNCATED, "(0010,0010)"),
    (UID + _element(0x7FE0, 0x0010, b"OW", bytes(100), 512), TRUNCATED, "(7FE0,0010)"),
    (UID + _element(0x0010, 0x0010, b"PN", b"DOE^JO")[:5], TRUNCATED, "header"),
    (UID + _element(0x0008, 0x1115, b"SQ", b"", 0xFFFFFFFF) + ITEM + UID, TRUNCATED,
     "undefined-length item of (0008,1115)"),
    (UID + _element(0x0008, 0x1115, b"SQ", b"", 0xFFFFFFFF) + ITEM + UID + ITEM_END,
     TRUNCATED, "undefined-length sequence of (0008,1115)"),
    (UID + _element(0x0008, 0x1115, b"SQ", struct.pack("<HHI", 0xFFFE, 0xE000, 16) + UID,
                    40), TRUNCATED, "defined-length sequence of (0008,1115)"),
    (UID + ITEM, MALFORMED, "(FFFE,E000) where a data element"),
    (UID + SEQUENCE_END, MALFORMED, "(FFFE,E0DD)"),
    (UID + ITEM_END, MALFORMED, "(FFFE,E00D)"),
    (UID + _element(0x0008, 0x1115, b"SQ", b"", 0xFFFFFFFF) + UID, MALFORMED,
     "(0008,0018) where an item of (0008,1115)"),
    (UID + _element(0x7FE0, 0x0010, b"OB", b"", 0xFFFFFFFF) + ITEM, MALFORMED,
     "fragment of undefined length"),
    # A defined-length item whose element runs past the item's end.
    (UID + _element(0x0008, 0x1115, b"SQ",
                    struct.pack("<HHI", 0xFFFE, 0xE000, 4) + UID) + UID, MALFORMED,
     "past the end"),
    (struct.pack("<HHI", 0x0008, 0x0018, 8) + b"1.2.3.4\x00", MALFORMED, "no VR"),
    (b"", MALFORMED, "empty"),
])
def test_damage_is_found_and_named(data: bytes, status: int, words: str) -> None:
    for chunk in (None, 1, 3):
        verdict = check(data, EXPLICIT_LE, chunk)
        assert verdict is not None
        assert verdict.status == status, verdict
        assert words in verdict.reason, verdict.reason


def test_a_sequence_closed_properly_passes() -> None:
    data = UID + _element(0x0008, 0x1115, b"SQ", b"", 0xFFFFFFFF) + ITEM + UID + \
        ITEM_END + SEQUENCE_END + _element(0x7FE0, 0x0010, b"OB", b"", 0xFFFFFFFF) + \
        struct.pack("<HHI", 0xFFFE, 0xE000, 0) + \
        struct.pack("<HHI", 0xFFFE, 0xE000, 4) + b"\xff\xd8\xff\xd9" + SEQUENCE_END
    for chunk in (None, 1, 5):
        assert check(data, EXPLICIT_LE, chunk) is None


def test_nesting_is_bounded() -> None:
    sequence = _element(0x0008, 0x1115, b"SQ", b"", 0xFFFFFFFF) + ITEM
    data = UID + sequence * (MAX_DEPTH // 2 + 1)
    verdict = check(data, EXPLICIT_LE)
    assert verdict is not None and "nested" in verdict.reason


def test_garbage_and_truncated_deflate_streams_are_undecodable() -> None:
    verdict = check(b"\xff" * 100, DEFLATED)
    assert verdict is not None and verdict.status == UNDECODABLE
    deflater = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    stream = deflater.compress(UID * 50) + deflater.flush()
    assert check(stream, DEFLATED) is None
    verdict = check(stream[:-3], DEFLATED)
    assert verdict is not None and verdict.status == UNDECODABLE


def test_a_deflate_bomb_stops_at_the_limit_in_bounded_steps() -> None:
    """64 MiB of zeros deflate to about 64 KiB: inflation stops at the limit (A700,
    like a data set over the size limit), and no single step makes a big buffer."""
    deflater = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    bomb = deflater.compress(UID + _element(0x7FE0, 0x0010, b"OB", b"", 64 << 20)) + \
        deflater.compress(bytes(64 << 20)) + deflater.flush()
    assert len(bomb) < 100_000
    checker = StructureChecker(DEFLATED, max_inflated=8 << 20)
    checker.feed(bomb)
    verdict = checker.finish()
    assert verdict is not None and verdict.status == 0xA700
    assert checker.size <= 8 << 20
    unbounded = StructureChecker(DEFLATED)
    unbounded.feed(bomb)
    assert unbounded.finish() is None


def test_the_check_is_linear_in_the_number_of_elements() -> None:
    """Twice the elements take about twice the time (measured against each other, in
    the same test; a generous bound for a loaded machine)."""
    sequence = _element(0x0008, 0x1115, b"SQ", b"", 0xFFFFFFFF) + ITEM + UID * 3 + \
        ITEM_END + SEQUENCE_END

    def best_time(count: int) -> float:
        data = (UID * 5 + sequence) * count
        best = float("inf")
        for _ in range(5):
            started = time.perf_counter()
            assert check(data, EXPLICIT_LE, 1000) is None
            best = min(best, time.perf_counter() - started)
        return best

    small, large = best_time(2000), best_time(8000)
    assert large < small * 4 * 2.5, (small, large)


def test_a_large_value_costs_nothing_per_byte() -> None:
    """The pixel data's bytes are skipped by arithmetic: a 64 MiB value takes about as
    long to check as a 64 KiB one, fed in the same fragments count."""
    def best_time(size: int) -> float:
        data = UID + _element(0x7FE0, 0x0010, b"OW", b"", size)
        fragment = bytes(size // 64)
        best = float("inf")
        for _ in range(5):
            checker = StructureChecker(EXPLICIT_LE)
            started = time.perf_counter()
            checker.feed(data)
            for _ in range(64):
                checker.feed(fragment)
            assert checker.finish() is None
            best = min(best, time.perf_counter() - started)
        return best

    assert best_time(64 << 20) < best_time(64 << 10) * 20 + 0.001
