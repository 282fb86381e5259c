"""A folder of real, varied DICOM instances for interop tests and benchmarks.

Built from files that ship inside pydicom's wheel (written by DCMTK, GDCM and others):
each copy gets fresh Study/Series/SOP Instance UIDs so a run holds 100+ distinct
instances. Files are grouped by transfer syntax because DCMTK's storescu proposes one
family of syntaxes per run (with -R; without it, it drops contexts for compressed
files and then fails to send them).
"""

from __future__ import annotations

from pathlib import Path

import pydicom
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

#: transfer syntax group -> (storescu option, source files in pydicom's test data)
GROUPS: dict[str, tuple[str, list[str]]] = {
    "explicit-le": ("-xe", ["CT_small.dcm", "MR_small.dcm", "reportsi.dcm",
                            "waveform_ecg.dcm", "liver_1frame.dcm", "SC_rgb_small_odd.dcm",
                            "examples_palette.dcm"]),
    "implicit-le": ("-xi", ["MR_small_implicit.dcm", "rtdose.dcm", "rtplan.dcm"]),
    "explicit-be": ("-xb", ["MR_small_bigendian.dcm", "rtdose_expb.dcm",
                            "SC_rgb_small_odd_big_endian.dcm"]),
    "jpeg-baseline": ("-xy", ["SC_rgb_jpeg_dcmtk.dcm", "SC_jpeg_no_color_transform.dcm",
                              "SC_rgb_small_odd_jpeg.dcm"]),
    "jpeg-lossless": ("-xs", ["SC_rgb_jpeg_gdcm.dcm"]),
    "rle": ("-xr", ["MR_small_RLE.dcm", "SC_rgb_rle_2frame.dcm"]),
}


def build_corpus(folder: Path, copies: int = 6) -> dict[str, list[Path]]:
    """Write ``copies`` renamed copies of every source file; returns the paths by group."""
    written: dict[str, list[Path]] = {}
    for group, (_option, names) in GROUPS.items():
        target = folder / group
        target.mkdir(parents=True, exist_ok=True)
        paths = written.setdefault(group, [])
        for name in names:
            original = pydicom.dcmread(get_testdata_file(name))
            for copy in range(copies):
                ds = original.copy()
                ds.StudyInstanceUID = generate_uid()
                ds.SeriesInstanceUID = generate_uid()
                ds.SOPInstanceUID = generate_uid()
                ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
                # DCMTK drops Data Set Trailing Padding when it sends a file, so a
                # byte-for-byte comparison needs files without it.
                if 0xFFFCFFFC in ds:
                    del ds[0xFFFCFFFC]
                _define_sequence_lengths(ds)
                path = target / f"{Path(name).stem}-{copy}.dcm"
                ds.save_as(path, enforce_file_format=True)
                paths.append(path)
    return written


def _define_sequence_lengths(ds: pydicom.Dataset) -> None:
    """Give every sequence and item an explicit length.

    DCMTK sends sequences with explicit lengths whatever the file holds, so a file
    with undefined lengths could not arrive byte for byte from storescu.
    """
    for element in ds.iterall():
        if element.VR == "SQ":
            element.is_undefined_length = False
            for item in element.value:
                item.is_undefined_length_sequence_item = False
