"""The presentation context of a request means something: its SOP class.

PS3.7 §9.1 and §10.1: a DIMSE request names its SOP class (Affected SOP Class UID, or
Requested SOP Class UID for N-GET, N-SET, N-ACTION and N-DELETE), and PS3.8 §7.1.1.13
makes the presentation context it travels on the agreement to use that abstract syntax.
A request naming another SOP class than its context's (a C-STORE of CT on the
Verification context, a C-ECHO naming CT Image Storage) asks for a service that was
not negotiated on that context, so it is refused with the status PS3.7 gives every
DIMSE-C and DIMSE-N service for it: 0122 "Refused: SOP Class not supported" (C.5.x,
and §9.1.x/§10.1.x Status lists), with an Error Comment naming both classes. An
operation the SOP class does not have (C-ECHO naming CT Image Storage, on the CT
context) gets 0211 "Unrecognized operation". A failure status rather than an
A-ABORT: the association and the peer's other work go on.

The server checks before any service runs, and before a C-STORE's data set is written
anywhere: :func:`checked_sink_factory` gives a refused request's data set a sink that
drops it, so nothing is filed, not even a temporary file.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING

from dicomnet.dimse import CommandField, Status
from dicomnet.dimse.comment import error_comment
from dicomnet.uids import uid_name

if TYPE_CHECKING:
    from dicomnet.acse import AcceptedContext
    from dicomnet.dataset_io import DatasetSink, SinkFactory
    from dicomnet.dimse import DIMSEMessage
    from dicomnet.service_methods import Association

__all__ = ["checked_sink_factory", "context_mismatch", "named_sop_class", "refusal"]


def named_sop_class(message: DIMSEMessage) -> str | None:
    """The SOP class a request names (Affected, else Requested SOP Class UID), None
    for one that names none (C-CANCEL-RQ, PS3.7 §9.3.2.3)."""
    if message.command_field == CommandField.C_CANCEL_RQ or not message.is_request:
        return None
    uid = getattr(message, "affected_sop_class_uid", None) \
        or getattr(message, "requested_sop_class_uid", None)
    return str(uid or "").rstrip("\x00 ")


def context_mismatch(abstract_syntax: str, message: DIMSEMessage) -> str | None:
    """Why ``message`` may not use a context of ``abstract_syntax`` (a short reason,
    fit for an Error Comment and a log line), or None when it may."""
    sop_class = named_sop_class(message)
    if sop_class is None or sop_class == abstract_syntax:
        return None
    named = _shown(sop_class) if sop_class else "no SOP class"
    return error_comment(f"{named} on a {_shown(abstract_syntax)} context")


def refusal(abstract_syntax: str, message: DIMSEMessage,
            operations: Mapping[int, Collection[str]]) -> tuple[int, str] | None:
    """The status and reason to refuse ``message`` with before any service sees it,
    or None. ``operations`` maps a request's Command Field to the SOP classes served
    with it (a command it lacks is left to the services).

    0122 "SOP Class not supported" for a SOP class other than the context's; 0211
    "Unrecognized operation" (PS3.7 C.5.x: "not one of those agreed") for an operation
    the SOP class does not have, such as a C-ECHO naming CT Image Storage on the CT
    context: Verification is the only SOP class of C-ECHO (PS3.4 A.3).
    """
    mismatch = context_mismatch(abstract_syntax, message)
    if mismatch is not None:
        return Status.SOP_CLASS_NOT_SUPPORTED, mismatch
    classes = operations.get(message.command_field)
    sop_class = named_sop_class(message)
    if classes is None or sop_class is None or sop_class in classes:
        return None
    operation = CommandField(message.command_field).name.removesuffix("_RQ")
    return Status.UNRECOGNIZED_OPERATION, error_comment(
        f"{operation.replace('_', '-')} is not an operation of {_shown(sop_class)}")


def _shown(uid: str) -> str:
    """A UID as a peer may read it: the standard's name when there is one (shorter
    and clearer), else the UID, escaped (it came from the peer)."""
    name = uid_name(uid)
    return error_comment(name.removesuffix(" SOP Class"))


class _DroppedDataset:
    """The sink of a data set that will be refused: its bytes go nowhere."""

    __slots__ = ()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        pass

    def close(self) -> None:
        pass

    def discard(self) -> None:
        pass


def checked_sink_factory(factory: SinkFactory,
                         operations: Mapping[int, Collection[str]]) -> SinkFactory:
    """``factory``, asked only for requests that will not be refused (see
    :func:`refusal`): the data set of any other is dropped as it arrives, which keeps
    it out of the archive's files and out of memory."""

    def make(association: Association, context: AcceptedContext,
             message: DIMSEMessage) -> DatasetSink | None:
        if refusal(context.abstract_syntax, message, operations) is not None:
            return _DroppedDataset()
        return factory(association, context, message)

    return make
