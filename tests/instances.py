"""Instances with chosen identifying attributes, for the tests of the archive's model:
Part 10 bytes made from a pydicom test file, and filing them through the Archive API
(what the storage SCP does with a received data set, without the sockets)."""

from __future__ import annotations

import copy
import io
from pathlib import Path

import pydicom
import pydicom.uid
from pydicom.data import get_testdata_file

from dicomnet.archive import Archive
from dicomnet.part10 import read_header

MR = str(get_testdata_file("MR_small.dcm"))
_BASE: dict[str, pydicom.Dataset] = {}


def instance_bytes(base: str = MR, **attributes: str) -> bytes:
    """The Part 10 file ``base`` with ``attributes`` (keyword=value) set."""
    if base not in _BASE:
        _BASE[base] = pydicom.dcmread(base)
    ds = copy.deepcopy(_BASE[base])  # setattr changes the elements a shallow copy shares
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    if "SOPInstanceUID" in attributes:
        ds.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.UID(attributes["SOPInstanceUID"])
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def write_instance(folder: Path, name: str, **attributes: str) -> Path:
    """``instance_bytes(**attributes)`` saved as ``folder/name`` (for a C-STORE)."""
    path = folder / name
    path.write_bytes(instance_bytes(**attributes))
    return path


def file_into(archive: Archive, data: bytes, *, sender: str = "SENDER") -> Path:
    """File Part 10 ``data`` as the archive files a received data set; its path."""
    fp = io.BytesIO(data)
    header = read_header(fp)
    fp.seek(header.dataset_offset)
    incoming = archive.open_incoming(sop_class_uid=header.sop_class_uid,
                                     sop_instance_uid=header.sop_instance_uid,
                                     transfer_syntax=header.transfer_syntax,
                                     source_ae_title=sender)
    incoming.write(fp.read())
    incoming.close()
    return archive.file(incoming)


def index_state(archive: Archive) -> dict[str, object]:
    """The whole index, as sorted lists of rows per table (without times)."""
    return {
        "patient": sorted(archive.index.execute("SELECT * FROM patient")),
        "study": sorted(archive.index.execute("SELECT * FROM study")),
        "series": sorted(archive.index.execute("SELECT * FROM series")),
        "instance": sorted(archive.index.execute(
            "SELECT sop_instance_uid, series_uid, path FROM instance")),
    }


def check_consistent(archive: Archive) -> None:
    """The index and the files agree and no entity is empty: every instance row's file
    exists and holds its SOP Instance UID, every .dcm file is named by exactly one row,
    and every patient, study and series has something under it."""
    rows = archive.index.execute("SELECT sop_instance_uid, path FROM instance")
    named = {str(path): str(uid) for uid, path in rows}
    assert len(named) == len(rows), "two rows name one file"
    files = {str(p.relative_to(archive.folder)) for p in archive.folder.rglob("*.dcm")}
    assert files == set(named), "files and rows disagree"
    for path, uid in named.items():
        assert pydicom.dcmread(archive.folder / path, stop_before_pixels=True
                               ).SOPInstanceUID == uid
    for sql in ("SELECT count(*) FROM series WHERE series_uid NOT IN "
                "(SELECT series_uid FROM instance)",
                "SELECT count(*) FROM study WHERE study_uid NOT IN "
                "(SELECT study_uid FROM series)",
                "SELECT count(*) FROM patient WHERE patient_id NOT IN "
                "(SELECT patient_id FROM study)"):
        assert archive.index.execute(sql) == [(0,)], sql
    # Foreign keys (PRAGMA foreign_keys=ON) keep every row under an existing parent
    # (PostgreSQL enforces them always).
    if archive.index.dialect.name == "sqlite":
        assert archive.index.execute("PRAGMA foreign_key_check") == []
    assert not [p for p in archive.incoming.iterdir() if p != archive.spare]
