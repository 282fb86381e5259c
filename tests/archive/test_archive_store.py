"""The archive files data sets whole or not at all, and indexes what it filed."""

from __future__ import annotations

import errno
import io
import os
import sqlite3
import time
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file

from dicomnet.archive import Archive, ArchiveError
from dicomnet.part10 import dataset_bytes


def _receive(archive: Archive, path: str, *, pieces: int = 3) -> Path:
    header, data = dataset_bytes(path)
    incoming = archive.open_incoming(sop_class_uid=header.sop_class_uid,
                                     sop_instance_uid=header.sop_instance_uid,
                                     transfer_syntax=header.transfer_syntax,
                                     source_ae_title="SENDER")
    step = max(1, len(data) // pieces)
    for start in range(0, len(data), step):
        incoming.write(memoryview(data)[start:start + step])
    incoming.close()
    return archive.file(incoming)


def test_a_received_file_is_whole_and_indexed(tmp_path: Path, index_url: str | None) -> None:
    archive = Archive(tmp_path, index=index_url)
    source = get_testdata_file("CT_small.dcm")
    stored = _receive(archive, source)
    original = pydicom.dcmread(source)
    assert stored.relative_to(tmp_path).parts == (
        original.PatientID, original.StudyInstanceUID, original.SeriesInstanceUID,
        original.SOPInstanceUID + ".dcm")
    assert dataset_bytes(stored)[1] == dataset_bytes(source)[1]
    copy = pydicom.dcmread(stored)
    assert copy.file_meta.SourceApplicationEntityTitle == "SENDER"
    assert copy.file_meta.MediaStorageSOPInstanceUID == original.SOPInstanceUID
    for table in ("patient", "study", "series", "instance"):
        assert archive.index.count(table) == 1
    assert archive.index.instance_path(original.SOPInstanceUID) == \
        stored.relative_to(tmp_path).as_posix()
    assert not list(archive.incoming.iterdir())


def test_the_spare_file_is_taken_by_the_next_data_set_and_removed_on_close(
        tmp_path: Path, index_url: str | None) -> None:
    archive = Archive(tmp_path, index=index_url)
    archive.prepare_spare()
    spare = archive.spare
    assert spare is not None and list(archive.incoming.iterdir()) == [spare]
    assert spare.stat().st_size == 0
    archive.prepare_spare()  # one is enough
    assert archive.spare == spare and len(list(archive.incoming.iterdir())) == 1
    incoming = archive.open_incoming(sop_class_uid="1.2.3", sop_instance_uid="1.2.3.4",
                                     transfer_syntax="1.2.840.10008.1.2.1",
                                     source_ae_title="X")
    assert incoming.path == spare and archive.spare is None
    incoming.discard()
    archive.prepare_spare()
    assert archive.spare is not None and archive.spare != spare
    archive.close()
    assert archive.spare is None
    assert not list(archive.incoming.iterdir())
    archive.prepare_spare()  # a closed archive keeps none
    assert not list(archive.incoming.iterdir())


def test_a_spare_that_cannot_be_made_is_no_error(tmp_path: Path, index_url: str | None) -> None:
    archive = Archive(tmp_path, index=index_url)
    archive.incoming.rmdir()
    archive.prepare_spare()
    assert archive.spare is None
    with pytest.raises(FileNotFoundError):  # the data set itself reports the problem
        archive.open_incoming(sop_class_uid="1.2.3", sop_instance_uid="1.2.3.4",
                              transfer_syntax="1.2.840.10008.1.2.1", source_ae_title="X")


def test_receiving_the_same_instance_again_replaces_it(tmp_path: Path,
        index_url: str | None) -> None:
    archive = Archive(tmp_path, index=index_url)
    first = _receive(archive, get_testdata_file("MR_small.dcm"))
    second = _receive(archive, get_testdata_file("MR_small.dcm"), pieces=1)
    assert second.exists() and not first.exists()  # beside it, then in its place
    assert archive.index.count("instance") == 1
    assert list(archive.folder.rglob("*.dcm")) == [second]
    third = _receive(archive, get_testdata_file("MR_small.dcm"))
    assert third == first and not second.exists()


def test_a_discarded_transfer_leaves_nothing(tmp_path: Path, index_url: str | None) -> None:
    archive = Archive(tmp_path, index=index_url)
    incoming = archive.open_incoming(sop_class_uid="1.2.3", sop_instance_uid="1.2.3.4",
                                     transfer_syntax="1.2.840.10008.1.2.1",
                                     source_ae_title="X")
    incoming.write(b"\x08\x00\x16\x00")
    incoming.discard()
    assert not list(archive.incoming.iterdir())
    assert [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix == ".dcm"] == []
    assert archive.index.count("instance") == 0


def test_an_unreadable_data_set_is_refused_and_removed(tmp_path: Path,
        index_url: str | None) -> None:
    archive = Archive(tmp_path, index=index_url)
    incoming = archive.open_incoming(sop_class_uid="1.2.3", sop_instance_uid="1.2.3.4",
                                     transfer_syntax="1.2.840.10008.1.2.1",
                                     source_ae_title="X")
    incoming.write(b"\x10\x00\x20\x00UN\x00\x00\xff\xff\xff\x7f")  # runs off the end
    incoming.close()
    with pytest.raises(ArchiveError):
        archive.file(incoming)
    assert not list(archive.incoming.iterdir())
    assert archive.index.count("instance") == 0


def test_hostile_identifiers_stay_inside_the_archive(tmp_path: Path, index_url: str | None) -> None:
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.PatientID = "../../../../tmp/evil"
    ds.StudyInstanceUID = "/etc"
    source = tmp_path / "in.dcm"
    ds.save_as(source)
    archive = Archive(tmp_path / "archive", index=index_url)
    stored = _receive(archive, str(source))
    assert stored.resolve().is_relative_to((tmp_path / "archive").resolve())
    assert len(stored.relative_to(tmp_path / "archive").parts) == 4


def test_leftovers_of_a_crash_are_swept_at_start(tmp_path: Path, index_url: str | None) -> None:
    (tmp_path / ".incoming").mkdir()
    dead = tmp_path / ".incoming" / "dead.part"
    dead.write_bytes(b"half")
    live = tmp_path / ".incoming" / "live.part"
    live.write_bytes(b"half")
    day_ago = time.time() - 25 * 3600
    os.utime(dead, (day_ago, day_ago))
    Archive(tmp_path, index=index_url).close()
    assert not dead.exists()
    # With a shared index, another server on the folder may be writing a recent one.
    assert live.exists() == (index_url is not None)


def test_the_index_is_plain_sqlite(tmp_path: Path) -> None:
    """SQLite only: the file DIR/index.sqlite is the SQLite back-end's."""
    archive = Archive(tmp_path)

    _receive(archive, get_testdata_file("CT_small.dcm"))
    archive.close()
    with sqlite3.connect(tmp_path / "index.sqlite") as db:
        (modality,) = db.execute("SELECT modality FROM series").fetchone()
    assert modality == "CT"


class _RefusingDisk(io.RawIOBase):
    """A raw file that refuses every write, as the kernel does when the disk is full
    (ENOSPC) or the file size limit is reached (EFBIG)."""

    def writable(self) -> bool:
        return True

    def write(self, data: object) -> int:
        raise OSError(errno.EFBIG, "File too large")


def test_a_write_failure_is_discarded_even_though_close_fails_too(tmp_path: Path,
        index_url: str | None) -> None:
    """Data still in the file's buffer makes close() flush, and fail, again: discard()
    must still remove the temporary file and not raise (found by the RLIMIT_FSIZE test,
    conformance/test_disk_full.py: the error escaped the association and the .part
    stayed)."""
    archive = Archive(tmp_path, index=index_url)
    header, data = dataset_bytes(get_testdata_file("CT_small.dcm"))
    incoming = archive.open_incoming(sop_class_uid=header.sop_class_uid,
                                     sop_instance_uid=header.sop_instance_uid,
                                     transfer_syntax=header.transfer_syntax,
                                     source_ae_title="SENDER")
    incoming.file.close()
    incoming.file = io.BufferedWriter(_RefusingDisk(), buffer_size=8192)
    incoming.write(data[:100])  # buffered: nothing reaches the disk yet
    with pytest.raises(OSError, match="too large"):
        incoming.write(data)  # the buffer is flushed: the disk refuses
    incoming.discard()
    assert not list(archive.incoming.iterdir())
