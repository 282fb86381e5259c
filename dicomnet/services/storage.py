"""Storage Service Class (PS3.4 Annex B): C-STORE as SCU and as SCP.

Sending: a Part 10 file is streamed from disk when the peer accepted its transfer
syntax (only the file meta header is parsed); otherwise, for the uncompressed syntaxes,
it is decoded and re-encoded in one the peer accepted. Receiving: the handler gets the
request with the data set lazily decoded, or the data set sink it asked for (see
:class:`~dicomnet.association.DatasetSink`) when it writes straight to disk.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeAlias, cast

import anyio

from dicomnet.dataset_io import FileRegion
from dicomnet.dimse import CStoreRQ, CStoreRSP, Priority, Status
from dicomnet.dimse.comment import exception_comment
from dicomnet.dimse.integrity import MALFORMED, TRUNCATED, Damage
from dicomnet.errors import DicomNetError, NegotiationError
from dicomnet.part10 import Part10Error, read_header, read_header_at
from dicomnet.services.failure import ServiceFailure
from dicomnet.services.file_check import DamagedFileError, check_file
from dicomnet.uids import (
    DEFAULT_TRANSFER_SYNTAXES,
    DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,
    UNCOMPRESSED_TRANSFER_SYNTAXES,
    uid_name,
)

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

    from dicomnet.acse import AcceptedContext
    from dicomnet.association import AssociationDriver, IncomingRequest, Response
    from dicomnet.outgoing import OutgoingMessage

log = logging.getLogger("dicomnet.storage")

__all__ = ["ITEM_ERRORS", "Storable", "StoreHandler", "answer_store", "contexts_for",
           "find_files", "store", "store_each"]

#: What :func:`store` sends: a data set, a path to a Part 10 file, or an open file.
Storable: TypeAlias = "Dataset | str | os.PathLike[str] | IO[bytes]"

#: A server-side C-STORE handler: returns the status to send (PS3.4 B.2.3).
StoreHandler = Callable[["IncomingRequest"], Awaitable[int]]

#: Syntaxes we can convert a data set into without a codec (PS3.5 §A.1-A.5).
_CONVERTIBLE = (*UNCOMPRESSED_TRANSFER_SYNTAXES, DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN)


@dataclass
class _Source:
    """One instance about to be sent, as cheaply as it can be described."""

    sop_class_uid: str
    sop_instance_uid: str
    transfer_syntax: str | None  # None: a data set without a known encoding
    region: FileRegion | None = None
    dataset: Dataset | None = None
    path: str | None = None

    def load(self) -> Dataset:
        """The decoded data set, for conversion to another transfer syntax."""
        if self.dataset is None:
            assert self.region is not None
            self.region.file.seek(0)
            self.dataset = _read(self.region.file)
        return self.dataset


def _is_dataset(item: object) -> bool:
    """Whether ``item`` is a pydicom Dataset, without importing pydicom to find out:
    if pydicom is not loaded, nobody could have made one."""
    module = sys.modules.get("pydicom.dataset")
    return module is not None and isinstance(item, module.Dataset)


def _read(file: IO[bytes], **options: Any) -> Dataset:
    """pydicom's reading of a whole file, its many errors made one ValueError."""
    import pydicom

    try:
        return pydicom.dcmread(file, force=True, **options)
    except Exception as exc:
        raise ValueError(f"not a readable DICOM file: {exc}") from exc


def _describe_source(item: Storable, stack: ExitStack) -> _Source:
    if _is_dataset(item):
        ds = cast("Dataset", item)
        meta = getattr(ds, "file_meta", None)
        syntax = str(meta.TransferSyntaxUID) if meta is not None and \
            "TransferSyntaxUID" in meta else None
        return _Source(_uid(ds, "SOPClassUID"), _uid(ds, "SOPInstanceUID"), syntax,
                         dataset=ds)
    file: IO[bytes]
    if isinstance(item, str | os.PathLike):
        path: str | None = os.fspath(item)
        file = stack.enter_context(open(os.fspath(item), "rb"))  # noqa: SIM115
    else:
        path, file = getattr(item, "name", None), cast(IO[bytes], item)
    try:
        header = read_header(file)
    except Part10Error:
        # No file meta (a bare data set): decode it and send in an accepted syntax.
        file.seek(0)
        ds = _read(file)
        return _Source(_uid(ds, "SOPClassUID"), _uid(ds, "SOPInstanceUID"), None,
                         dataset=ds, path=str(path) if path else None)
    region = FileRegion(file, header.dataset_offset, header.dataset_length)
    check = check_file(region, header.transfer_syntax)
    if check.damage is not None:  # refused here rather than by the peer
        raise DamagedFileError(check.damage)
    instance = header.sop_instance_uid
    if check.sop_instance_uid is not None and check.sop_instance_uid != instance:
        # The request names the data set's instance (PS3.7 §9.1.1.1): the File Meta's
        # copy (PS3.10 §7.1) is stale, and a peer comparing them answers A900.
        log.warning("File Meta Media Storage SOP Instance UID %s differs from the data "
                    "set's SOP Instance UID %s: sending as %s", instance,
                    check.sop_instance_uid, check.sop_instance_uid)
        instance = check.sop_instance_uid
    if check.sop_class_uid is not None and check.sop_class_uid != header.sop_class_uid:
        log.warning("File Meta Media Storage SOP Class UID %s differs from the data "
                    "set's SOP Class UID %s: sending as %s", header.sop_class_uid,
                    check.sop_class_uid, header.sop_class_uid)
    return _Source(header.sop_class_uid, instance, header.transfer_syntax,
                     region=region, path=str(path) if path else None)


def _uid(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword)
    if not value:
        raise ValueError(f"the data set has no {keyword}; it cannot be stored")
    return str(value)


def _choose(association: AssociationDriver, out: _Source) -> tuple[AcceptedContext, bool]:
    """The context to send on, and whether the data set must be converted to its
    transfer syntax (only between syntaxes that need no codec)."""
    negotiated = association.negotiated
    if out.transfer_syntax is not None:
        context = negotiated.find_context(out.sop_class_uid, [out.transfer_syntax])
        if context is not None:
            return context, False
    if out.transfer_syntax is None or out.transfer_syntax in _CONVERTIBLE:
        context = negotiated.find_context(out.sop_class_uid, list(_CONVERTIBLE))
        if context is not None:
            return context, True
    offered = sorted({uid_name(c.transfer_syntax)
                      for c in negotiated.contexts_for(out.sop_class_uid)})
    raise NegotiationError(
        f"no accepted presentation context for {uid_name(out.sop_class_uid)} in "
        f"{uid_name(out.transfer_syntax or 'any uncompressed transfer syntax')}"
        + (f" (accepted: {', '.join(offered)})" if offered else " (SOP class not accepted)"))


#: What keeps one item from being sent, as opposed to an association that failed.
ITEM_ERRORS = (NegotiationError, Part10Error, ValueError, OSError)


@dataclass
class _Ready:
    """An item opened, described and encoded as a C-STORE-RQ on its presentation
    context: all but the sending. Owns the open file (``stack``) and the request's
    Message ID until it is sent (:meth:`drop` gives both back)."""

    stack: ExitStack
    outgoing: OutgoingMessage

    def drop(self, association: AssociationDriver) -> None:
        """The request will not be sent."""
        self.stack.close()
        association.discard(self.outgoing)


def _opened(association: AssociationDriver, item: Storable, stack: ExitStack
            ) -> tuple[_Source, AcceptedContext, Dataset | FileRegion]:
    """What sending ``item`` needs from its file: described, checked, its context chosen
    and its payload ready (the file left open on ``stack``). The part of preparing that
    reads a file (up to the check's limit, or all of it to convert): a server runs it in
    a worker thread (:func:`store`)."""
    source = _describe_source(item, stack)
    context, convert = _choose(association, source)
    payload: Dataset | FileRegion
    if convert:
        payload = source.load()
    elif source.region is not None:
        source.region.prefetch()
        payload = source.region
    else:
        assert source.dataset is not None
        payload = source.dataset
    return source, context, payload


def _ready(association: AssociationDriver, item: Storable, *, priority: int,
           move_originator: tuple[str, int] | None = None,
           opened: tuple[_Source, AcceptedContext, Dataset | FileRegion] | None = None,
           files: ExitStack | None = None) -> _Ready:
    """``item`` made a C-STORE-RQ ready to write; ``opened`` (with the ``files`` it
    left open) when :func:`_opened` already ran elsewhere."""
    with files or ExitStack() as stack:  # closes the file if the item cannot be sent
        source, context, payload = opened or _opened(association, item, stack)
        request = CStoreRQ(
            affected_sop_class_uid=source.sop_class_uid,
            affected_sop_instance_uid=source.sop_instance_uid,
            priority=priority,
            move_originator_ae_title=move_originator[0] if move_originator else None,
            move_originator_message_id=move_originator[1] if move_originator else None,
        )
        outgoing = association.prepare(context, request, payload)
        return _Ready(stack.pop_all(), outgoing)


async def _ready_off_loop(association: AssociationDriver, item: Storable, *, priority: int,
                          move_originator: tuple[str, int] | None = None) -> _Ready:
    """:func:`_ready`, the file's part (:func:`_opened`: reading, checking, decoding to
    convert) in a worker thread: the event loop goes on with other associations (a
    server's C-GET and C-MOVE sub-operations) or with the responses of this one."""
    if _is_dataset(item):
        return _ready(association, item, priority=priority, move_originator=move_originator)
    with ExitStack() as stack:
        opened = await anyio.to_thread.run_sync(_opened, association, item, stack)
        return _ready(association, item, priority=priority, move_originator=move_originator,
                      opened=opened, files=stack.pop_all())


async def store(association: AssociationDriver, item: Storable, *,
                priority: int = Priority.MEDIUM,
                move_originator: tuple[str, int] | None = None) -> int:
    """C-STORE one instance (PS3.4 B.2) and return the response status.

    ``move_originator`` is (AE title, Message ID) when storing as a C-MOVE
    sub-operation (PS3.7 §9.1.1.1). A file is read and checked off the event loop.
    """
    ready = await _ready_off_loop(association, item, priority=priority,
                                  move_originator=move_originator)
    with ready.stack:
        return (await association.request_prepared(ready.outgoing)).status


class StoreStatus(int):
    """A C-STORE response's status, an int as before, with the response's Error
    Comment (None without one): what :func:`store_each` yields for a sent item."""

    error_comment: str | None

    @classmethod
    def of(cls, response: Response) -> StoreStatus:
        status = cls(response.status)
        comment = getattr(response.message, "error_comment", None)
        status.error_comment = None if comment is None else str(comment)
        return status


async def store_each(association: AssociationDriver, items: Iterable[Storable], *,
                     priority: int = Priority.MEDIUM
                     ) -> AsyncGenerator[tuple[Storable, int | Exception], None]:
    """C-STORE ``items`` one after another on ``association``, yielding each item with
    its response status, or with the error (one of :data:`ITEM_ERRORS`: unreadable,
    no accepted context) that kept it from being sent; an association that fails
    raises as :func:`store` does.

    Without an asynchronous operations window one request is outstanding at a time,
    and the peer, busy with one instance, is usually the slower side: while it works,
    the next item is opened, its header read and the file checked (in a worker thread,
    off the event loop), its context chosen, its request encoded
    and its first write built (:meth:`AssociationDriver.prepare`, which reads the start of
    its data set; :meth:`FileRegion.prefetch` asks the disk for the rest), so the next
    request follows the response sooner than with one :func:`store` after another.
    """
    pending = iter(items)
    ahead: list[tuple[Storable, _Ready | Exception]] = []

    async def prepare_next() -> None:
        for item in pending:
            try:
                ahead.append((item, await _ready_off_loop(association, item,
                                                          priority=priority)))
            except ITEM_ERRORS as exc:
                ahead.append((item, exc))
            return

    await prepare_next()
    try:
        while ahead:
            item, ready = ahead.pop()
            if isinstance(ready, Exception):
                await prepare_next()
                yield item, ready
                continue
            result: int | Exception
            with ready.stack:
                try:
                    result = StoreStatus.of(await association.request_prepared(
                        ready.outgoing, while_waiting=prepare_next))
                except ITEM_ERRORS as exc:
                    if isinstance(exc, DicomNetError):  # a timeout fails the association
                        raise
                    result = exc
            if not ahead:
                await prepare_next()  # the send failed before while_waiting could run
            yield item, result
    finally:
        for _item, left in ahead:
            if isinstance(left, _Ready):
                left.drop(association)


async def answer_store(request: IncomingRequest, handler: StoreHandler | None) -> None:
    """Answer a C-STORE-RQ with the handler's status (PS3.4 B.2.3), or refuse it
    without calling the handler: no data set, no room for it, or a damaged one (see
    :attr:`~dicomnet.association.IncomingRequest.damage`; ``Server(accept_damaged=
    True)`` hands a truncated or malformed one to the handler all the same)."""
    message = request.message
    assert isinstance(message, CStoreRQ)
    comment: str | None = None
    offending: tuple[int, ...] | None = None
    if request.sink_error is not None and request.sink is None:
        # Nowhere to keep the data set (too large, or the sink could not be made).
        log.warning("%r: C-STORE refused: %s", request.association, request.sink_error)
        status: int = 0xA700  # Refused: Out of Resources (PS3.4 B.2.3)
        comment = exception_comment(request.sink_error)
    elif request.raw_dataset is None and request.sink is None \
            and request.sink_error is None:
        # Command Data Set Type said "no data set" (PS3.7 E.1-1): nothing to store.
        log.warning("%r: C-STORE-RQ without a data set refused", request.association)
        status = 0xC000  # Error: Cannot understand (PS3.4 Table B.2-1)
        comment = "the C-STORE-RQ has no data set"
    elif request.damage is not None and not _accepts(request, request.damage):
        # PS3.4 Table B.2-1 "Error: Cannot understand" (codes in dicomnet.dimse.integrity):
        # nothing of it is kept, and the sender learns it must send it again.
        damage = request.damage
        log.warning("%r: C-STORE refused (0x%04X), damaged data set: %s",
                    request.association, damage.status, damage)
        if request.sink is not None:
            request.sink.discard()
        status, comment = damage.status, damage.comment
    elif handler is None:
        status = Status.SOP_CLASS_NOT_SUPPORTED
        comment = "this server does not store instances"
    else:
        if request.damage is not None:
            log.warning("%r: damaged data set accepted (accept_damaged): %s",
                        request.association, request.damage)
        try:
            status = await handler(request)
        except ServiceFailure as failure:  # a refusal with its reason
            status, comment, offending = failure.status, failure.comment, failure.offending
    await request.respond(CStoreRSP(
        message_id_being_responded_to=message.message_id,
        affected_sop_class_uid=message.affected_sop_class_uid,
        affected_sop_instance_uid=message.affected_sop_instance_uid,
        status=int(status), error_comment=comment, offending_element=offending,
    ))


def _accepts(request: IncomingRequest, damage: Damage) -> bool:
    """Whether a damaged data set still goes to the handler: only when the association
    accepts damaged data, and only for data that is there to keep (truncated or
    malformed), not a deflate stream that does not inflate (nothing in it can be read)
    or one that inflates past the size limit."""
    return request.association.accept_damaged and damage.status in (TRUNCATED, MALFORMED)


def contexts_for(items: Iterable[str | os.PathLike[str] | Dataset]
                 ) -> list[tuple[str, Sequence[str]]]:
    """Presentation contexts to propose for sending ``items`` (PS3.8 §7.1.1.13).

    For every SOP class: one context per transfer syntax the files use, offering only
    that syntax, so each file can go exactly as it is on disk; and, if any of them is
    uncompressed, one more with Explicit and Implicit VR Little Endian, so the file can
    still be converted when the peer refuses its own syntax. Files that cannot be read
    are left out here; :func:`store` reports them when it tries.
    """
    seen: dict[str, list[str]] = {}
    for item in items:
        try:
            sop_class, syntax = _class_and_syntax(item)
        except (OSError, ValueError, Part10Error):
            continue
        syntaxes = seen.setdefault(sop_class, [])
        if syntax not in syntaxes:
            syntaxes.append(syntax)
    contexts: list[tuple[str, Sequence[str]]] = []
    for sop_class, syntaxes in seen.items():
        contexts.extend((sop_class, [syntax]) for syntax in syntaxes if syntax)
        if any(not syntax or syntax in _CONVERTIBLE for syntax in syntaxes):
            contexts.append((sop_class, list(DEFAULT_TRANSFER_SYNTAXES)))
    return contexts


def _class_and_syntax(item: str | os.PathLike[str] | Dataset) -> tuple[str, str]:
    if _is_dataset(item):
        ds = cast("Dataset", item)
        meta: Any = getattr(ds, "file_meta", None)
        syntax = str(meta.TransferSyntaxUID) if meta is not None and \
            "TransferSyntaxUID" in meta else ""
        return _uid(ds, "SOPClassUID"), syntax
    try:
        header = read_header_at(item)
    except Part10Error:
        with open(item, "rb") as fp:
            return _uid(_read(fp, stop_before_pixels=True), "SOPClassUID"), ""
    return header.sop_class_uid, header.transfer_syntax


def find_files(paths: Iterable[str | os.PathLike[str]], *, recursive: bool = False
               ) -> list[Path]:
    """The files named by ``paths``: files as given, folders expanded (recursively if
    asked, not following links to folders), in a stable order; hidden files and
    folders are skipped.

    Walks with :func:`os.scandir` rather than :meth:`Path.glob`: pathlib makes an
    object and a system call per entry, time a short ``dicomnet store`` spends before
    it can connect.
    """
    found: list[Path] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found.extend(path.joinpath(*parts)
                         for parts in sorted(_files_under(path, (), recursive)))
        else:
            found.append(path)
    return found


def _files_under(top: Path, inside: tuple[str, ...], recursive: bool
                 ) -> Iterator[tuple[str, ...]]:
    """Relative parts of the regular files (or links to them) under ``top/inside``."""
    with os.scandir(top.joinpath(*inside)) as entries:
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_file():
                yield (*inside, entry.name)
            elif recursive and entry.is_dir(follow_symlinks=False):
                yield from _files_under(top, (*inside, entry.name), recursive)
