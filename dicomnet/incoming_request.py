"""A DIMSE request from the peer, as a handler sees it, and how it is answered.

The association driver makes one per request (:class:`~dicomnet.connection_events.
RequestArrived`) and runs the handler with it; the handler answers through it, so
the response goes on the request's presentation context with an Error Comment where
PS3.7 Annex C wants one, and the association knows when the request is done.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import anyio

from dicomnet.dimse import DIMSEMessage, StatusCategory, decode_dataset, response_to
from dicomnet.dimse.comment import with_error_comment
from dicomnet.dimse.messages import describe_message
from dicomnet.errors import DIMSEError

if TYPE_CHECKING:
    from pydicom import Dataset

    from dicomnet.acse import AcceptedContext
    from dicomnet.connection_events import RequestArrived
    from dicomnet.dataset_io import DatasetSink
    from dicomnet.dimse.integrity import Damage
    from dicomnet.service_methods import Association

__all__ = ["IncomingRequest"]


class IncomingRequest:
    """A DIMSE request from the peer, handed to a handler.

    The data set stays as received (``raw_dataset``) until someone reads ``dataset``:
    a store handler that only writes bytes to disk never pays for decoding.
    """

    def __init__(self, association: Association, arrived: RequestArrived) -> None:
        self.association = association
        self.context: AcceptedContext = arrived.context
        self.message: DIMSEMessage = arrived.message
        self.raw_dataset: bytes | None = arrived.dataset
        self.sink: DatasetSink | None = arrived.sink
        self.sink_error: Exception | None = arrived.sink_error
        #: For a C-STORE-RQ: what is wrong with the structure of its data set (truncated,
        #: malformed, undecodable), None when it is whole (see dicomnet.dimse.integrity).
        self.damage: Damage | None = arrived.damage
        self._cancelled: anyio.Event | None = None
        #: A final (not pending) response has been sent.
        self.answered = False
        self._after_answer: list[Callable[[], object]] | None = None
        self._dataset: Dataset | None = None
        self.arrived_at = time.monotonic()
        #: Pending responses sent so far (C-FIND matches, C-GET/C-MOVE progress).
        self.pending_sent = 0

    @property
    def cancelled(self) -> anyio.Event:
        """Set by a C-CANCEL-RQ for this request, or when the association ends. Made on
        first use: most requests (C-ECHO, C-STORE) are never cancelled, nor asked."""
        if self._cancelled is None:
            self._cancelled = anyio.Event()
        return self._cancelled

    @property
    def dataset(self) -> Dataset | None:
        """The request's data set, decoded on first use."""
        if self._dataset is None and self.raw_dataset is not None:
            self._dataset = decode_dataset(self.raw_dataset, self.context.transfer_syntax)
        return self._dataset

    async def respond(self, message: DIMSEMessage,
                      dataset: Dataset | bytes | None = None) -> None:
        """Send a response on the context the request came on; a failure always with
        an Error Comment (PS3.7 C), made safe to encode."""
        message = with_error_comment(message)
        await self.association.send_message(self.context, message, dataset)
        if message.status_category == StatusCategory.PENDING:  # type: ignore[union-attr]
            self.pending_sent += 1
            return
        self.answered = True
        events = self.association.events
        if events.messages:
            events.request_answered(self, message, dataset)
        for function in self._after_answer or ():
            function()

    def after_answer(self, function: Callable[[], object]) -> None:
        """Call ``function()`` right after the final response has been sent, in the
        handler's task: quick work that should not delay the answer (the archive makes
        the next data set's file there, while the peer reads the answer and prepares
        its next request). A task of its own (:meth:`Association.start_task`)
        costs more than such work. Runs after whichever final response goes out (the
        failure the association sends when a handler raises, too), and never if none
        does (the association ended first)."""
        if self._after_answer is None:
            self._after_answer = []
        self._after_answer.append(function)

    async def refuse(self, status: int, comment: str | None = None) -> None:
        """Answer with a response of the right type carrying ``status`` (a failure,
        usually) and nothing else.

        A response echoes values of the request (its Affected SOP Class and Instance
        UIDs, PS3.7 9.3); a request whose values cannot be encoded (a UID over 64
        characters, PS3.5 6.2) cannot be answered at all. Then the association is
        aborted: the peer learns at once that it will get no answer, rather than
        waiting for one until its own timeout."""
        try:
            response = response_to(self.message, status, error_comment=comment)
            await self.respond(response)
        except (DIMSEError, ValueError) as exc:  # the encoder's "cannot encode"
            await self.association.abort(why=f"cannot answer "
                                             f"{describe_message(self.message)}: {exc}")
