"""The archive's storage: received data sets become Part 10 files, whole or not at all.

A C-STORE data set is written as it arrives into ``DIR/.incoming/<random>.part``, behind
a File Meta Information header built from the command (PS3.10 §7.1). When the last
fragment is in, the file's identifying attributes are read back (without pixel data),
the file is renamed into ``DIR/<patient>/<study>/<series>/<instance>.dcm`` and the index
row is written. A rename within one file system is atomic, so a reader sees the whole
file or nothing; an association that dies half way leaves only a ``.part`` that is
deleted at once (and any left by a crash are swept at start-up). An instance received
again goes beside the copy the index names (``<instance>.<random>.dcm`` when that copy
has the plain name), and the earlier copy is removed only once the index names the new
one: a copy whose receipt was acknowledged is never lost to one that could not be
indexed (``Archive(duplicates="keep")`` keeps the earlier copy instead, ``"reject"``
refuses the new one). All of this runs in the index's writer thread
(:meth:`Archive.file_in_writer`).

The folder names what the instance said when it was filed; the index says where it
belongs now. When a re-sent instance moves its study to another patient (see
:mod:`~dicomnet.archive.hierarchy`), the study's other files stay where they are, under
the old Patient ID's folder: moving them would cost a rename each inside the
transaction, for nothing a query or a retrieval sees, since both read the path from
the index. Folders a re-send leaves empty are removed.

Creating a file is the slowest step of receiving a data set on a busy ext4 file system
(as slow as writing a good part of a CT image): the archive therefore keeps one
empty *spare* temporary file, created after an answer has gone out, while the sender
is busy with its next instance, and a new data set takes it instead of creating one.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import pydicom
from pydicom.datadict import tag_for_keyword
from pydicom.errors import InvalidDicomError

from dicomnet.archive.attributes import NeedMoreData, pick_attributes
from dicomnet.archive.index import (
    BUSY_TIMEOUT,
    DATABASE_ERRORS,
    ArchiveIndex,
    InstanceRecord,
    WouldWait,
)
from dicomnet.archive.paths import safe_component
from dicomnet.archive.worker import IndexWorker
from dicomnet.dimse.dataset import DEFLATED_SYNTAXES, encoding_of
from dicomnet.part10 import file_meta_bytes

__all__ = ["DUPLICATE_POLICIES", "Archive", "ArchiveError", "DuplicateInstanceError",
           "IncomingFile", "IndexUnavailableError"]

log = logging.getLogger("dicomnet.archive")

_INCOMING = ".incoming"
#: Bytes of each data set kept in memory to index it without reading the file back.
_HEAD_SIZE = 64 * 1024
# The attributes the index keeps, read back from each received file.
_INDEX_TAGS = ["SOPInstanceUID", "PatientID", "PatientName", "PatientBirthDate", "PatientSex",
               "StudyInstanceUID", "StudyDate", "StudyTime", "AccessionNumber", "StudyID",
               "StudyDescription", "ReferringPhysicianName", "SeriesInstanceUID",
               "Modality", "SeriesNumber", "SeriesDescription", "InstanceNumber"]
_WANTED = {int(tag_for_keyword(keyword) or 0): keyword for keyword in _INDEX_TAGS}
#: What to do with an instance whose SOP Instance UID the archive already holds: file
#: the new copy in its place, keep the earlier copy, or refuse the new one.
DUPLICATE_POLICIES = ("replace", "keep", "reject")
#: A write_lock(wait=False) not granted, or the index failing: folders stay.
_NOT_NOW: tuple[type[Exception], ...] = (WouldWait, *DATABASE_ERRORS)
#: Seconds after which a temporary file in a folder shared by several servers counts
#: as left by a crash (a transfer in progress writes to it all the time).
_SHARED_STALE_AFTER = 24 * 3600


class ArchiveError(Exception):
    """A received data set could not be filed (unreadable, or the disk failed)."""


class DuplicateInstanceError(ArchiveError):
    """``duplicates="reject"``: the archive already holds an instance with this SOP
    Instance UID; the new copy was not kept."""


class IndexUnavailableError(ArchiveError):
    """The index could not record a data set in time (locked by another process past
    its busy timeout, or failing): the data set was not kept."""


@dataclass(eq=False)
class IncomingFile:
    """A data set being received into a temporary file (a DIMSE data set sink)."""

    archive: Archive
    path: Path
    file: BinaryIO
    sop_class_uid: str
    sop_instance_uid: str
    transfer_syntax: str
    source_ae_title: str
    size: int = 0
    complete: bool = False
    head: bytearray = field(default_factory=bytearray)
    attributes: dict[str, str] | None = None
    #: Set when filing kept an earlier copy instead of this one (``duplicates="keep"``).
    kept_earlier: bool = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.file.write(data)
        self.size += len(data)
        if len(self.head) < _HEAD_SIZE:
            self.head += data[:_HEAD_SIZE - len(self.head)]
            if len(self.head) == _HEAD_SIZE and self.transfer_syntax not in DEFLATED_SYNTAXES:
                # Pick the index attributes now, while the sender is still busy with
                # the rest of the data set, rather than after its last byte.
                implicit, little = encoding_of(self.transfer_syntax)
                # On failure it is tried again, with the whole data set, when filing.
                with suppress(NeedMoreData, ValueError):
                    self.attributes = pick_attributes(self.head, _WANTED,
                                                      implicit=implicit, little=little,
                                                      complete=False)

    def close(self) -> None:
        """All fragments arrived."""
        self.file.close()
        self.complete = True

    def discard(self) -> None:
        """The data set will never be whole (abort, error): remove every trace.

        Never raises for the file: after a failed write (disk full, file too large)
        close() flushes what is still buffered and fails the same way; the file is
        closed all the same and must still be removed."""
        try:
            self.file.close()
        except OSError as exc:
            log.debug("closing %s to discard it: %s", self.path.name, exc)
        finally:
            self.path.unlink(missing_ok=True)


class Archive:
    """A folder of Part 10 files by patient / study / series, with an index (SQLite in
    the folder, or PostgreSQL shared by several servers)."""

    def __init__(self, folder: str | os.PathLike[str], *,
                 busy_timeout: float = BUSY_TIMEOUT, duplicates: str = "replace",
                 index: str | None = None, sweep: bool = True) -> None:
        if duplicates not in DUPLICATE_POLICIES:
            raise ValueError(f"duplicates must be one of {', '.join(DUPLICATE_POLICIES)}, "
                             f"not {duplicates!r}")
        #: A re-sent SOP Instance UID: "replace" the earlier copy (the new one is
        #: filed and indexed), "keep" it (the new one is discarded) or "reject" the
        #: new one (:class:`DuplicateInstanceError`).
        self.duplicates = duplicates
        self.folder = Path(folder).resolve()
        self.incoming = self.folder / _INCOMING
        self.incoming.mkdir(parents=True, exist_ok=True)
        # sweep=False: other processes on the folder (serve --workers) may be receiving
        # into it; the process that started them swept it once. With a shared index,
        # other servers on the folder are receiving into it now: only what nobody has
        # written to for a long time was left by a crash.
        oldest = time.time() - _SHARED_STALE_AFTER if index is not None else None
        for stale in self.incoming.glob("*.part") if sweep else ():
            with suppress(OSError):
                if oldest is not None and stale.stat().st_mtime > oldest:
                    continue
                log.warning("removing %s, left by an interrupted transfer", stale.name)
                stale.unlink(missing_ok=True)
        #: ``index``: a ``postgresql://`` URL for an index shared by several servers
        #: (each with this folder, shared too); None for ``DIR/index.sqlite``.
        self.index = ArchiveIndex(self.folder, busy_timeout=busy_timeout, url=index)
        #: Where index work runs off the event loop (see :mod:`~dicomnet.archive.worker`).
        self.worker = IndexWorker(self.index)
        self._root = str(self.folder)
        self._folders: set[str] = set()  # folders known to exist
        self._spare: tuple[Path, BinaryIO] | None = None
        self._closed = False

    @property
    def spare(self) -> Path | None:
        """The empty temporary file kept ready for the next data set, if there is one:
        the only file in ``incoming`` that is not a data set being received."""
        return self._spare[0] if self._spare is not None else None

    def prepare_spare(self) -> None:
        """Create the spare temporary file now, when nobody waits for it (see the module
        docstring). Failing is harmless: the next data set creates its own file and
        reports the error, if it persists, to its sender."""
        if self._spare is not None or self._closed:
            return
        path = self._new_incoming_path()
        try:
            self._spare = (path, open(path, "xb"))  # noqa: SIM115 - kept open on purpose
        except OSError as exc:
            log.debug("cannot create a spare incoming file: %s", exc)

    def close(self) -> None:
        self._closed = True
        if self._spare is not None:
            path, file = self._spare
            self._spare = None
            file.close()
            path.unlink(missing_ok=True)
        self.worker.close()
        self.index.close()

    def _new_incoming_path(self) -> Path:
        # The pid first: what a killed process leaves can be told from what others
        # on the folder (serve --workers) are receiving.
        return self.incoming / f"{os.getpid()}-{secrets.token_hex(12)}.part"

    def open_incoming(self, *, sop_class_uid: str, sop_instance_uid: str,
                      transfer_syntax: str, source_ae_title: str) -> IncomingFile:
        """Start receiving one data set: a temporary file (the spare, if there is one)
        with its meta header."""
        if self._spare is not None:
            path, file = self._spare
            self._spare = None
        else:
            path = self._new_incoming_path()
            file = open(path, "xb")  # noqa: SIM115 - closed by IncomingFile.close/discard
        try:
            file.write(file_meta_bytes(sop_class_uid=sop_class_uid,
                                       sop_instance_uid=sop_instance_uid,
                                       transfer_syntax=transfer_syntax,
                                       source_ae_title=source_ae_title))
        except BaseException:
            file.close()
            path.unlink(missing_ok=True)
            raise
        return IncomingFile(self, path, file, sop_class_uid, sop_instance_uid,
                            transfer_syntax, source_ae_title)

    async def file_in_writer(self, incoming: IncomingFile) -> Path:
        """:meth:`file`, never holding the event loop longer than a quick commit.

        When nothing can make it wait (no other write under way, the index's write lock
        free at once, the attributes already picked, no checkpoint due) the instance is
        filed at once, on the loop: that takes a fraction of a millisecond, less than
        handing it to a thread and being woken up again costs. Otherwise the whole of
        it (reading the attributes with pydicom, waiting for the lock, the rename, the
        transaction and a checkpoint) goes to the writer thread in one hand-over."""
        if not self.index.quick_writes or self.index.checkpoint_due or (
                incoming.attributes is None
                                         and incoming.size > len(incoming.head)):
            return await self.worker.write(self.file, incoming)
        path = self.worker.write_now(self._file, incoming, False)
        if path is not None:
            return path
        return await self.worker.write(self.file, incoming)

    def file(self, incoming: IncomingFile) -> Path:
        """Move a complete data set into place and index it; returns its final path.

        Raises :class:`ArchiveError` (and removes the temporary file) when the data set
        cannot be read back or the file system refuses, :class:`IndexUnavailableError` when
        the index cannot record it (locked past its busy timeout, disk full): then the
        new file is removed and an earlier copy of the instance stays as it was;
        :class:`DuplicateInstanceError` when the archive holds the instance already and
        its policy is ``"reject"``. With ``"keep"``, returns the earlier copy's path
        (and sets ``incoming.kept_earlier``).
        Blocks: on the event loop, use :meth:`file_in_writer`.
        """
        path = self._file(incoming, True)
        assert path is not None
        return path

    def _file(self, incoming: IncomingFile, wait: bool) -> Path | None:
        """:meth:`file`; with ``wait`` false, None (and nothing done) instead of
        waiting for another process's write lock or reading the file with pydicom."""
        if not incoming.complete:
            incoming.discard()
            raise ArchiveError("the data set is incomplete")
        try:
            try:
                values = incoming.attributes or _index_attributes(incoming, wait)
            except (InvalidDicomError, OSError, ValueError, EOFError, KeyError,
                    AttributeError, TypeError, NotImplementedError) as exc:
                raise ArchiveError(f"cannot read the received data set: {exc}") from exc
            if values is not None and values["SOPInstanceUID"] != incoming.sop_instance_uid:
                # PS3.4 B.2.3 / PS3.7 §9.1.1.1: the data set is the instance the command
                # names; anything else is not a data set we understand.
                raise ArchiveError(
                    f"the data set's SOP Instance UID {values['SOPInstanceUID']!r} is not "
                    f"the command's {incoming.sop_instance_uid!r}")
            if values is None:
                return None  # left for the writer thread: incoming.attributes is kept
            # Plain strings: this runs between a data set's last byte and its answer,
            # and pathlib's objects cost several times more.
            folder = "/".join((safe_component(values["PatientID"]),
                               safe_component(values["StudyInstanceUID"]),
                               safe_component(values["SeriesInstanceUID"])))
            stem = folder + "/" + safe_component(incoming.sop_instance_uid)
        except BaseException:
            incoming.discard()
            raise
        return self._replace(incoming, values, stem, wait)

    def _replace(self, incoming: IncomingFile, values: dict[str, str], stem: str,
                 wait: bool) -> Path | None:
        """Put the new copy in place beside any earlier one, index it, and only once
        the index has committed remove the earlier copy: an acknowledged copy is never
        lost to a copy that could not be indexed (issue 17: a re-send while the index
        is locked). The new copy takes a name no earlier copy has, on disk or in the
        index: another writer may still be about to remove a copy the index no longer
        names. The duplicates policy is applied under the same write lock, so two
        writers cannot both see the instance absent."""
        target: str | None = None
        try:
            with self.index.transaction(wait=wait):
                held = self.index.held(
                    sop_instance_uid=incoming.sop_instance_uid,
                    series_uid=values["SeriesInstanceUID"],
                    study_uid=values["StudyInstanceUID"], patient_id=values["PatientID"])
                earlier = held.path
                if earlier is not None and self.duplicates != "replace":
                    if self.duplicates == "reject":
                        raise DuplicateInstanceError(
                            f"instance {incoming.sop_instance_uid} is already stored")
                    incoming.kept_earlier = True
                    return self._keep_earlier(incoming, earlier)
                relative = stem + ".dcm"
                if earlier is not None and (earlier == relative or os.path.lexists(
                        os.path.join(self._root, relative))):
                    relative = f"{stem}.{secrets.token_hex(4)}.dcm"
                self._rename(incoming, os.path.join(self._root, relative))
                target = os.path.join(self._root, relative)  # only once it is there
                self.index.write(_record(values, incoming, relative), held)
        except WouldWait:
            incoming.attributes = values  # nothing done yet: the writer thread goes on
            return None
        except DATABASE_ERRORS as exc:
            self._remove_new(incoming, target)
            raise IndexUnavailableError(f"cannot index instance {incoming.sop_instance_uid}: "
                                        f"{exc}") from exc
        except BaseException:
            self._remove_new(incoming, target)
            raise
        if earlier is not None and earlier != relative:
            self._remove_earlier(incoming, earlier,
                                 moved=os.path.dirname(earlier) != os.path.dirname(relative))
        assert target is not None
        return Path(target)

    def _keep_earlier(self, incoming: IncomingFile, earlier: str) -> Path:
        """``duplicates="keep"``: the archive already holds the instance; the new copy
        goes, the earlier copy and its rows stay as they are."""
        incoming.discard()
        return Path(self._root, earlier)

    def _rename(self, incoming: IncomingFile, target: str) -> None:
        """Move the received file to ``target``, making its folder first. Runs under
        the index's write lock, as :meth:`_remove_empty_folders` does: one writer's
        folder cannot vanish between its creation and the rename."""
        parent = os.path.dirname(target)
        try:
            if parent not in self._folders:
                os.makedirs(parent, exist_ok=True)
                self._folders.add(parent)
            try:
                os.replace(incoming.path, target)
            except FileNotFoundError:
                if not incoming.path.exists():
                    raise
                # Another writer (another process on the folder) removed it once empty.
                os.makedirs(parent, exist_ok=True)
                os.replace(incoming.path, target)
        except OSError as exc:
            raise self._filing_error(incoming, exc) from exc

    def _remove_earlier(self, incoming: IncomingFile, earlier: str, *, moved: bool) -> None:
        """Remove the copy the index no longer names (no writer will take its name:
        see :meth:`_replace`). Failing is harmless: the index is the record, a stray
        file is never served."""
        path = os.path.join(self._root, earlier)
        try:
            os.unlink(path)
        except OSError as exc:
            log.debug("earlier copy of %s not removed: %s", incoming.sop_instance_uid, exc)
            return
        if moved:  # else the new copy is in the same folder
            self._remove_empty_folders(os.path.dirname(path))

    def _remove_empty_folders(self, folder: str) -> None:
        """Remove ``folder`` and its parents up to the patient's folder while they are
        empty (a patient's folder must not outlive a corrected Patient ID). Under the
        index's write lock, so that no writer is between making one of them and
        renaming a file into it; when the lock is not free at once the folders stay,
        which is harmless (nothing is served from a folder, only from the index)."""
        try:
            with self.index.transaction(wait=False):
                # <patient>/<study>/<series>: up to three folders, deepest first; rmdir
                # fails on a folder that is not empty, which ends the climb.
                for _level in range(3):
                    if folder == self._root:
                        return
                    try:
                        os.rmdir(folder)
                    except OSError:
                        return
                    self._folders.discard(folder)
                    folder = os.path.dirname(folder)
        except _NOT_NOW as exc:
            log.debug("empty folders left: %s", exc)

    @staticmethod
    def _remove_new(incoming: IncomingFile, target: str | None) -> None:
        """The index is the archive's record: a file it does not name must not stay."""
        incoming.discard()
        if target is not None:
            with suppress(FileNotFoundError):
                os.unlink(target)

    @staticmethod
    def _filing_error(incoming: IncomingFile, exc: OSError) -> ArchiveError:
        # The path holds the Patient ID: keep it out of the message, which is logged
        # at the default level (PS3.15 log hygiene, issue 6).
        return ArchiveError(f"cannot file instance {incoming.sop_instance_uid}: "
                            f"{exc.strerror or type(exc).__name__}")


def _record(values: dict[str, str], incoming: IncomingFile, path: str) -> InstanceRecord:
    return InstanceRecord(
        patient_id=values["PatientID"], patient_name=values["PatientName"],
        birth_date=values["PatientBirthDate"], sex=values["PatientSex"],
        study_uid=values["StudyInstanceUID"], study_date=values["StudyDate"],
        study_time=values["StudyTime"], accession_number=values["AccessionNumber"],
        study_id=values["StudyID"], study_description=values["StudyDescription"],
        referring_physician=values["ReferringPhysicianName"],
        series_uid=values["SeriesInstanceUID"], modality=values["Modality"],
        series_number=values["SeriesNumber"],
        series_description=values["SeriesDescription"],
        sop_instance_uid=incoming.sop_instance_uid,
        sop_class_uid=incoming.sop_class_uid,
        instance_number=values["InstanceNumber"],
        transfer_syntax=incoming.transfer_syntax, path=path,
        size=incoming.size, source_ae_title=incoming.source_ae_title)


def _index_attributes(incoming: IncomingFile, slow: bool = True) -> dict[str, str] | None:
    """The attributes the index needs, picked from the head kept in memory (see
    :mod:`~dicomnet.archive.attributes`); deflated data sets, or a head too short,
    fall back to reading the file with pydicom (still without pixel data), unless
    ``slow`` is false: then None."""
    if incoming.transfer_syntax not in DEFLATED_SYNTAXES:
        implicit, little = encoding_of(incoming.transfer_syntax)
        try:
            return pick_attributes(incoming.head, _WANTED, implicit=implicit, little=little,
                                   complete=incoming.size <= len(incoming.head))
        except NeedMoreData:
            pass
    if not slow:
        return None
    ds = pydicom.dcmread(incoming.path, stop_before_pixels=True, defer_size=1024,
                         specific_tags=_INDEX_TAGS)
    return {keyword: _text(ds.get(keyword)) for keyword in _INDEX_TAGS}


def _text(value: object) -> str:
    if value is None:
        return ""
    return str(value).strip()
