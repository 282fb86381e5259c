"""Data sets to and from the bytes of a transfer syntax (PS3.5 §7, §10, Annex A), with
pydicom's bundled test files (all of them local: nothing is downloaded)."""

from __future__ import annotations

import struct
import warnings
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pydicom
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames
from pydicom.sequence import Sequence

from dicomnet.dimse import decode_dataset, encode_dataset
from dicomnet.dimse.dataset import encoding_of
from dicomnet.errors import DIMSEError

IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
EXPLICIT_BE = "1.2.840.10008.1.2.2"
DEFLATED = "1.2.840.10008.1.2.1.99"
JPEG2000 = "1.2.840.10008.1.2.4.91"
SYNTAXES = [IMPLICIT_LE, EXPLICIT_LE, EXPLICIT_BE, DEFLATED]

# pydicom warns about its own test files' odd UIDs and about the malformed data here.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

_TEST_FILES = Path(pydicom.__file__).parent / "data" / "test_files"
FILES = [
    "CT_small.dcm",                     # explicit LE, 16 bit signed
    "MR_small.dcm",                     # explicit LE
    "MR_small_implicit.dcm",            # implicit LE
    "MR_small_bigendian.dcm",           # explicit BE, 16 bit OW
    "rtdose.dcm",                       # implicit LE, 32 bit, 15 frames
    "rtdose_expb.dcm",                  # explicit BE, 32 bit, 15 frames
    "SC_rgb_small_odd.dcm",             # explicit LE, RGB 8 bit, odd length
    "SC_rgb_small_odd_big_endian.dcm",  # explicit BE, RGB 8 bit in OW words
    "reportsi.dcm",                     # SR: nested sequences, no pixels
    "image_dfl.dcm",                    # deflated explicit LE
]


def _path(name: str) -> str:
    # Only files that ship with pydicom: get_testdata_file would download the others.
    assert (_TEST_FILES / name).is_file(), name
    path = get_testdata_file(name)
    assert path is not None
    return str(path)


def _read(name: str) -> Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(_path(name))


def _elements(ds: Dataset, path: str = "") -> Iterator[tuple[str, object]]:
    """(path, value) of every element but Pixel Data, sequences flattened."""
    for element in ds:
        where = f"{path}{element.tag}"
        if element.VR == "SQ":
            yield where, len(element.value)
            for i, item in enumerate(element.value):
                yield from _elements(item, f"{where}[{i}]")
        elif element.tag != 0x7FE00010:
            yield where, element.value


def _assert_same_dataset(got: Dataset, expected: Dataset) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert dict(_elements(got)) == dict(_elements(expected))
        if "PixelData" in expected:
            ours, theirs = got.pixel_array, expected.pixel_array
            assert ours.shape == theirs.shape
            assert ours.dtype.kind == theirs.dtype.kind
            assert ours.dtype.itemsize == theirs.dtype.itemsize
            assert np.array_equal(ours, theirs)


@pytest.mark.parametrize("syntax", SYNTAXES)
@pytest.mark.parametrize("name", FILES)
def test_round_trip(name: str, syntax: str) -> None:
    source = _read(name)
    data = encode_dataset(source, syntax)
    decoded = decode_dataset(data, syntax)
    _assert_same_dataset(decoded, source)
    # The decoded data set says how it was encoded, for pixel_array and writing.
    assert decoded.file_meta.TransferSyntaxUID == syntax
    implicit, little = encoding_of(syntax)
    assert decoded.original_encoding[:2] == (implicit, little)
    # And goes out again in any other syntax, still the same.
    for other in SYNTAXES:
        again = decode_dataset(encode_dataset(decoded, other), other)
        _assert_same_dataset(again, source)


@pytest.mark.parametrize(("big", "little"), [
    ("MR_small_bigendian.dcm", "MR_small.dcm"),
    ("rtdose_expb.dcm", "rtdose.dcm"),
    ("SC_rgb_small_odd_big_endian.dcm", "SC_rgb_small_odd.dcm"),
])
@pytest.mark.parametrize("syntax", [IMPLICIT_LE, EXPLICIT_LE, DEFLATED])
def test_big_endian_to_little_endian_keeps_every_pixel(big: str, little: str,
                                                       syntax: str) -> None:
    """pydicom writes OW bytes as it holds them: dicomnet must swap the words (by the
    pixel size, 32 bit for RT Dose) or the image arrives scrambled."""
    source, reference = _read(big), _read(little)
    decoded = decode_dataset(encode_dataset(source, syntax), syntax)
    assert np.array_equal(decoded.pixel_array, reference.pixel_array)
    assert np.array_equal(decoded.pixel_array, source.pixel_array)
    # Byte for byte what the little endian file holds (up to its padding byte).
    assert decoded.PixelData[:len(reference.PixelData)] == reference.PixelData


@pytest.mark.parametrize(("little", "big"), [
    ("MR_small.dcm", "MR_small_bigendian.dcm"),
    ("rtdose.dcm", "rtdose_expb.dcm"),
])
def test_little_endian_to_big_endian_matches_the_big_endian_file(little: str,
                                                                 big: str) -> None:
    source, reference = _read(little), _read(big)
    decoded = decode_dataset(encode_dataset(source, EXPLICIT_BE), EXPLICIT_BE)
    assert decoded.PixelData == reference.PixelData
    assert np.array_equal(decoded.pixel_array, reference.pixel_array)


def test_big_endian_source_is_left_alone() -> None:
    source = _read("MR_small_bigendian.dcm")
    before = bytes(source.PixelData)
    encode_dataset(source, EXPLICIT_LE)
    assert source.PixelData == before  # the caller's data set is not modified
    assert source.original_encoding[1] is False


def test_sequence_items_are_swapped_too() -> None:
    """OW values inside sequence items change byte order like top-level ones."""
    item = Dataset()
    item.add_new(0x00283006, "OW", struct.pack(">3H", 1, 2, 0x1234))  # LUT Data
    ds = Dataset()
    ds.PatientName = "Test^Swap"
    ds.add_new(0x00283010, "SQ", Sequence([item]))  # VOI LUT Sequence
    ds.file_meta = pydicom.dataset.FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = EXPLICIT_BE  # a new data set: big endian by meta
    decoded = decode_dataset(encode_dataset(ds, EXPLICIT_LE), EXPLICIT_LE)
    lut = decoded.VOILUTSequence[0][0x00283006].value
    assert lut == struct.pack("<3H", 1, 2, 0x1234)


@pytest.mark.parametrize("bits", [16, 32])
@pytest.mark.parametrize("syntax", SYNTAXES)
def test_new_data_set_pixels_survive_every_syntax(bits: int, syntax: str) -> None:
    """A data set built in memory (no file, no meta) holds native little endian words."""
    dtype = np.dtype(f"<u{bits // 8}")
    pixels = (np.arange(12, dtype=np.uint64) * 0x01030507).astype(dtype).reshape(3, 4)
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.SOPInstanceUID = "1.2.3.4"
    ds.Rows, ds.Columns = 3, 4
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 0
    ds.add_new(0x7FE00010, "OW", pixels.tobytes())
    decoded = decode_dataset(encode_dataset(ds, syntax), syntax)
    assert np.array_equal(decoded.pixel_array, pixels)
    assert decoded.Rows == 3
    assert decoded.SOPInstanceUID == "1.2.3.4"


# -- the wire forms ----------------------------------------------------------------------------


def test_implicit_encoding_is_implicit() -> None:
    ds = Dataset()
    ds.PatientID = "ID1"  # odd: padded with a space
    assert encode_dataset(ds, IMPLICIT_LE) == bytes.fromhex("1000 2000 04000000") + b"ID1 "
    assert encode_dataset(ds, EXPLICIT_LE) == bytes.fromhex("1000 2000") + b"LO" \
        + bytes.fromhex("0400") + b"ID1 "
    assert encode_dataset(ds, EXPLICIT_BE) == bytes.fromhex("0010 0020") + b"LO" \
        + bytes.fromhex("0004") + b"ID1 "


def test_deflated_is_raw_deflate_of_explicit_little_endian() -> None:
    """PS3.5 §A.5: Deflate (RFC 1951) with no zlib header or trailer."""
    source = _read("CT_small.dcm")
    deflated = encode_dataset(source, DEFLATED)
    explicit = encode_dataset(source, EXPLICIT_LE)
    assert zlib.decompress(deflated, -zlib.MAX_WBITS) == explicit
    assert len(deflated) < len(explicit)
    with pytest.raises(zlib.error):
        zlib.decompress(deflated)  # not a zlib stream


def test_decodes_the_deflated_bytes_of_a_real_file() -> None:
    """image_dfl.dcm: what follows its file meta is what a peer would send."""
    raw = Path(_path("image_dfl.dcm")).read_bytes()
    reference = _read("image_dfl.dcm")
    offset = 128 + 4 + 12 + reference.file_meta.FileMetaInformationGroupLength
    decoded = decode_dataset(raw[offset:], DEFLATED)
    _assert_same_dataset(decoded, reference)
    assert decoded.PixelData == reference.PixelData


@pytest.mark.parametrize(("name", "syntax"), [("MR_small_implicit.dcm", IMPLICIT_LE),
                                              ("MR_small_bigendian.dcm", EXPLICIT_BE),
                                              ("MR_small.dcm", EXPLICIT_LE)])
def test_decodes_the_bytes_of_a_real_file(name: str, syntax: str) -> None:
    raw = Path(_path(name)).read_bytes()
    reference = _read(name)
    offset = 128 + 4 + 12 + reference.file_meta.FileMetaInformationGroupLength
    decoded = decode_dataset(memoryview(raw)[offset:], syntax)
    _assert_same_dataset(decoded, reference)
    assert decoded.PixelData == reference.PixelData
    assert decode_dataset(bytearray(raw[offset:]), syntax) == decoded


def test_compressed_pixel_data_stays_encapsulated() -> None:
    """Encapsulated syntaxes: explicit VR LE around the untouched fragments (PS3.5 A.4)."""
    source = _read("JPEG2000.dcm")
    assert source.file_meta.TransferSyntaxUID == JPEG2000
    assert encoding_of(JPEG2000) == (False, True)
    data = encode_dataset(source, JPEG2000)
    # (7FE0,0010) OB, undefined length, then the Basic Offset Table item.
    start = data.index(bytes.fromhex("E07F 1000") + b"OB")
    assert data[start + 6:start + 16] == bytes.fromhex("0000 FFFFFFFF FEFF 00E0")
    decoded = decode_dataset(data, JPEG2000)
    assert decoded.PixelData == source.PixelData
    assert decoded["PixelData"].is_undefined_length
    frames = list(generate_frames(decoded.PixelData, number_of_frames=1))
    assert frames == list(generate_frames(source.PixelData, number_of_frames=1))
    assert frames[0][:4] == bytes.fromhex("FF4FFF51")  # JPEG 2000 codestream SOC, SIZ
    assert dict(_elements(decoded)) == dict(_elements(source))


def test_empty_data_set() -> None:
    for syntax in SYNTAXES:
        data = encode_dataset(Dataset(), syntax)
        assert len(decode_dataset(data, syntax)) == 0
        if syntax != DEFLATED:
            assert data == b""


# -- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize("syntax", [IMPLICIT_LE, EXPLICIT_LE, EXPLICIT_BE])
@pytest.mark.parametrize("cut", [1, 2, 7, 100, 1000, 20000])
def test_truncated_data_set(syntax: str, cut: int) -> None:
    """A data set cut short (its last element runs past the end of the data) is not
    taken for a whole one (PS3.5 §7.1: a value is exactly Value Length bytes)."""
    data = encode_dataset(_read("CT_small.dcm"), syntax)
    with pytest.raises(DIMSEError):
        decode_dataset(data[:-cut], syntax)


@pytest.mark.parametrize("syntax", [IMPLICIT_LE, EXPLICIT_LE, EXPLICIT_BE])
@pytest.mark.parametrize("extra", [b"\x00", b"\x08\x00\x10", b"\x10\x00\x10\x00\x00\x00"])
def test_stray_bytes_after_the_last_element(syntax: str, extra: bytes) -> None:
    data = encode_dataset(_read("MR_small.dcm"), syntax)
    with pytest.raises(DIMSEError):
        decode_dataset(data + extra, syntax)


def test_truncated_sequence_and_encapsulated_pixel_data() -> None:
    for name, syntax in (("reportsi.dcm", IMPLICIT_LE), ("reportsi.dcm", EXPLICIT_LE),
                         ("JPEG2000.dcm", JPEG2000)):
        data = encode_dataset(_read(name), syntax)
        for cut in (2, 8, 9, len(data) // 3):
            with pytest.raises(DIMSEError):
                decode_dataset(data[:-cut], syntax)


@pytest.mark.parametrize(("data", "syntax"), [
    (b"\x08\x00\x10\x00ZZ\x04\x00abcd", EXPLICIT_LE),          # no such VR
    (b"\x08\x00\x10\x00\x10\x00\x00\x00ab", IMPLICIT_LE),       # value past the end
    (b"\x08\x00", IMPLICIT_LE),                                  # half a tag
    (b"\x08\x00\x15\x11SQ\x00\x00\xff\xff\xff\xff\x12\x34\x56\x78", EXPLICIT_LE),
    (b"\x08\x00\x10\x00\xff\xff\xff\xff", EXPLICIT_BE),
    (bytes(range(256)) * 3, IMPLICIT_LE),
    (b"not deflate at all", DEFLATED),
    (zlib.compress(b"\x08\x00\x10\x00CS\x02\x00AB"), DEFLATED),  # zlib header: wrong
])
def test_undecodable_bytes(data: bytes, syntax: str) -> None:
    with pytest.raises(DIMSEError):
        decode_dataset(data, syntax)


_SAMPLES: dict[tuple[str, str], bytes] = {}


def _sample(name: str, syntax: str) -> bytes:
    if (name, syntax) not in _SAMPLES:
        _SAMPLES[name, syntax] = encode_dataset(_read(name), syntax)
    return _SAMPLES[name, syntax]


@settings(max_examples=150, deadline=None)
@given(name=st.sampled_from(["reportsi.dcm", "MR_small.dcm"]),
       syntax=st.sampled_from(SYNTAXES),
       edits=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=4),
       cut=st.integers(0, 10**6))
def test_damaged_data_sets_raise_only_dimse_error(name: str, syntax: str,
                                                  edits: list[tuple[int, int]],
                                                  cut: int) -> None:
    data = bytearray(_sample(name, syntax))
    for position, value in edits:
        data[position % len(data)] = value
    del data[cut % (len(data) + 1):]
    try:
        decoded = decode_dataset(bytes(data), syntax)
    except DIMSEError:
        return
    assert isinstance(decoded, Dataset)


def test_unencodable_data_set() -> None:
    ds = Dataset()
    ds.add_new(0x00280010, "US", "not a number")
    with pytest.raises(DIMSEError, match="cannot encode"):
        encode_dataset(ds, EXPLICIT_LE)


def test_encoding_of() -> None:
    assert encoding_of(IMPLICIT_LE) == (True, True)
    assert encoding_of(EXPLICIT_LE) == (False, True)
    assert encoding_of(EXPLICIT_BE) == (False, False)
    assert encoding_of(DEFLATED) == (False, True)
    assert encoding_of("1.2.840.10008.1.2.4.50") == (False, True)  # JPEG baseline
