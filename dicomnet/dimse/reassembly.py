"""Putting PDVs back together into DIMSE messages, with the checks PS3.7/PS3.8 demand.

Command fragments are collected until the last one, then decoded. A data set is not
collected here: its fragments are handed on as they come (:class:`DatasetFragment`) so
the association can stream them to disk. Anything out of order is a protocol error
(:class:`DIMSEError`), which the association turns into an A-ABORT.
"""

from __future__ import annotations

from collections.abc import Collection

from dicomnet.dimse.command_set import decode_command
from dicomnet.dimse.messages import DIMSEMessage
from dicomnet.errors import DIMSEError
from dicomnet.pdu import PDataTF
from dicomnet.records import record

__all__ = ["CommandReceived", "DatasetFragment", "Reassembler"]


@record()
class CommandReceived:
    """A whole command set arrived and decoded."""

    context_id: int
    message: DIMSEMessage


@record()
class DatasetFragment:
    """A piece of the data set of the last command (in order; ``is_last`` ends it)."""

    context_id: int
    data: bytes | bytearray | memoryview
    is_last: bool


class Reassembler:
    """Turns P-DATA-TF PDUs into commands and data set fragments for one association."""

    def __init__(self, accepted_context_ids: Collection[int]) -> None:
        self._accepted = frozenset(accepted_context_ids)
        self._command: list[bytes | bytearray | memoryview] = []
        self._command_context: int | None = None
        self._dataset_context: int | None = None

    @property
    def idle(self) -> bool:
        """No message is partly received."""
        return not self._command and self._dataset_context is None

    @property
    def expecting_dataset(self) -> bool:
        return self._dataset_context is not None

    def feed(self, pdu: PDataTF) -> list[CommandReceived | DatasetFragment]:
        events: list[CommandReceived | DatasetFragment] = []
        for pdv in pdu.pdvs:
            context_id = pdv.context_id
            if context_id not in self._accepted:
                raise DIMSEError(f"PDV for presentation context {context_id}, which was "
                                 "not accepted (PS3.8 §9.3.5)")
            if pdv.is_command:
                if self._dataset_context is not None:
                    raise DIMSEError("command fragment while a data set was still expected "
                                     "(PS3.7 §6.3.1)")
                if self._command_context not in (None, context_id):
                    raise DIMSEError("command fragments on two presentation contexts")
                self._command_context = context_id
                self._command.append(pdv.data)
                if pdv.is_last:
                    data = self._command[0] if len(self._command) == 1 \
                        else b"".join(self._command)
                    self._command = []
                    self._command_context = None
                    message = decode_command(data)
                    events.append(CommandReceived(context_id, message))
                    if message.has_dataset:
                        self._dataset_context = context_id
            else:
                if self._dataset_context is None:
                    raise DIMSEError("data set fragment without a command announcing one "
                                     "(PS3.7 §6.3.1)")
                if context_id != self._dataset_context:
                    raise DIMSEError(f"data set fragment on context {context_id}, its "
                                     f"command came on {self._dataset_context}")
                events.append(DatasetFragment(context_id, pdv.data, pdv.is_last))
                if pdv.is_last:
                    self._dataset_context = None
        return events
