"""An instance received again never costs the copy whose receipt was acknowledged: the
new copy goes beside it and the earlier one is removed only once the index names the
new one. When the new copy cannot be indexed (the index locked by another process,
or failing), the earlier copy and its row stay exactly as they were."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

import pydicom
import pytest
from archive_backends import other_writer
from pydicom.data import get_testdata_file

from dicomnet.archive import Archive, IndexUnavailableError
from dicomnet.archive.index import ArchiveIndex
from dicomnet.archive.store import IncomingFile
from dicomnet.part10 import dataset_bytes

MR = str(get_testdata_file("MR_small.dcm"))


def _receive(archive: Archive, data: bytes) -> Path:
    header, body = dataset_bytes(_written(archive, data))
    incoming = archive.open_incoming(sop_class_uid=header.sop_class_uid,
                                     sop_instance_uid=header.sop_instance_uid,
                                     transfer_syntax=header.transfer_syntax,
                                     source_ae_title="SENDER")
    incoming.write(body)
    incoming.close()
    return archive.file(incoming)


def _written(archive: Archive, data: bytes) -> Path:
    path = archive.folder.parent / "sent.dcm"
    path.write_bytes(data)
    return path


def _data(**changes: str) -> bytes:
    ds = pydicom.dcmread(MR)
    for keyword, value in changes.items():
        setattr(ds, keyword, value)
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _state(archive: Archive) -> tuple[list[Path], list[tuple[object, ...]]]:
    files = sorted(archive.folder.rglob("*.dcm"))
    rows = archive.index.execute("SELECT sop_instance_uid, series_uid, path, size "
                                 "FROM instance")
    return files, rows


def _no_part_files(archive: Archive) -> bool:
    return not [p for p in archive.incoming.iterdir() if p != archive.spare]


@pytest.mark.parametrize("moved", [False, True], ids=["same-folder", "other-patient"])
def test_a_resend_the_locked_index_refuses_keeps_the_first_copy(tmp_path: Path,
                                                                moved: bool,
        index_url: str | None) -> None:
    archive = Archive(tmp_path / "archive", index=index_url, busy_timeout=0.2)
    first = _receive(archive, _data())
    first_bytes = first.read_bytes()
    before = _state(archive)
    with other_writer(archive):  # another process writing, for longer than we wait
        again = _data(PatientID="SOMEONE-ELSE") if moved else _data()
        with pytest.raises(IndexUnavailableError):
            _receive(archive, again)
    assert first.read_bytes() == first_bytes
    assert _state(archive) == before
    assert _no_part_files(archive)
    archive.close()


def test_a_resend_whose_index_write_fails_keeps_the_first_copy(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, index_url: str | None) -> None:
    archive = Archive(tmp_path / "archive", index=index_url)
    first = _receive(archive, _data())
    first_bytes = first.read_bytes()
    before = _state(archive)

    def failing_write(self: ArchiveIndex, *args: object) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(ArchiveIndex, "write", failing_write)
    with pytest.raises(IndexUnavailableError):
        _receive(archive, _data(PatientName="Other^Name"))
    assert first.read_bytes() == first_bytes
    assert _state(archive) == before
    assert _no_part_files(archive)
    archive.close()


@pytest.mark.parametrize("moved", [False, True], ids=["same-folder", "other-patient"])
def test_a_successful_resend_leaves_one_file_and_one_row(tmp_path: Path,
                                                        moved: bool, index_url: str | None) -> None:
    archive = Archive(tmp_path / "archive", index=index_url)
    first = _receive(archive, _data())
    again = _data(PatientID="SOMEONE-ELSE") if moved else _data(StudyDescription="NEW")
    second = _receive(archive, again)
    files, rows = _state(archive)
    assert files == [second] and not first.exists()
    assert second.read_bytes().endswith(dataset_bytes(_written(archive, again))[1])
    assert len(rows) == 1
    assert archive.folder / str(rows[0][2]) == second
    archive.close()


def test_a_locked_index_keeps_no_first_copy_either(tmp_path: Path, index_url: str | None) -> None:
    """A new instance that cannot be indexed is not kept at all."""
    archive = Archive(tmp_path / "archive", index=index_url, busy_timeout=0.1)
    with other_writer(archive):
        with pytest.raises(IndexUnavailableError):
            _receive(archive, _data())
    assert _state(archive) == ([], [])
    assert _no_part_files(archive)
    assert isinstance(_receive(archive, _data()), Path)  # and works once free
    archive.close()


def test_incoming_file_is_what_the_archive_hands_out(tmp_path: Path, index_url: str | None) -> None:
    archive = Archive(tmp_path / "archive", index=index_url)
    incoming = archive.open_incoming(sop_class_uid="1.2", sop_instance_uid="1.2.3",
                                     transfer_syntax="1.2.840.10008.1.2.1",
                                     source_ae_title="X")
    assert isinstance(incoming, IncomingFile)
    incoming.discard()
    archive.close()
