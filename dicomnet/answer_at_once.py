"""Answers sent from the transport's data callback, for requests that wait on nothing.

The association's reader is a task: bytes from the peer set a future, and the task
runs one event loop round later (a second ``epoll_wait``, a callback handle, a context
switch into the task, anyio's machinery around it), before anything is decoded. For a
request whose answer needs no waiting (the built-in C-ECHO answer, PS3.4 A.4) that
wake-up is as costly as the rest of the answer. :func:`answer_at_once` is called by
:class:`dicomnet.transport_link.TransportLink` with the bytes, in the callback, while
the reader waits with nothing unread: when they are one whole P-DATA-TF carrying one
whole command, it feeds them to the sans-IO connection, and when what comes out is a
request that the association's ``answer_now`` hook answers, it writes the answer
straight to the transport. The reader never sees those bytes.

Everything else goes the usual way: bytes it does not take reach the reader
unchanged, and once it has fed the connection, whatever the connection made of them
(the request a hook declines, a state change, an error) goes to the reader as events,
exactly as if the reader had fed them itself. It declines whenever anything could
make the usual path differ: an association not plainly established, another message
being written, a watched log or event subscribers for messages or PDUs, a window of
held requests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dicomnet.connection_events import ConnectionEvent, RequestArrived
from dicomnet.dimse.command_set import encode_command
from dicomnet.dimse.fragment import max_fragment_size, pdata_pdu

if TYPE_CHECKING:
    from dicomnet.association import AssociationDriver

__all__ = ["ANSWERED", "answer_at_once"]

#: What :func:`answer_at_once` returns when the answer went out: nothing is left for
#: the reader. Any list it returns goes to the reader, an empty one too (the reader
#: still writes what the connection queued and follows its state).
ANSWERED: tuple[()] = ()

#: A P-DATA-TF (PS3.8 §9.3.5): type 04; its first PDV's message control header has
#: bit 0 (command) and bit 1 (last fragment) set.
_P_DATA_TF = 0x04
_LAST_COMMAND_FRAGMENT = 0x03


def answer_at_once(driver: AssociationDriver, data: bytes
                   ) -> list[ConnectionEvent] | tuple[()] | None:
    """Answer the request in ``data`` now if it can be: :data:`ANSWERED`; None when
    ``data`` is not taken (the reader gets it); else the events the connection made
    of it, for the reader."""
    conn = driver._conn
    link = driver._link
    # One whole PDU holding one PDV, the last (or only) fragment of a command.
    if len(data) < 12 or data[0] != _P_DATA_TF or data[11] != _LAST_COMMAND_FRAGMENT \
            or int.from_bytes(data[2:6], "big") != len(data) - 6 \
            or int.from_bytes(data[6:10], "big") != len(data) - 10:
        return None
    events_hub = driver.events
    events_hub.refresh()
    if not conn.established or conn.buffered or conn.holding or conn.paused \
            or conn.wants_close or conn.artim_running or events_hub.messages \
            or events_hub.pdus or driver._message_lock.locked() or link is None \
            or not link.idle() or driver._closed.is_set() or driver._answer_now is None:
        return None
    conn.report_pdus = False
    events = conn.receive_data(data)
    if len(events) != 1 or conn.sent_pdus or conn.wants_close or conn.paused \
            or conn.holding or conn.buffered:
        return events
    event = events[0]
    if not isinstance(event, RequestArrived) or event.dataset is not None:
        return events
    context = event.context
    response = driver._answer_now(context, event.message)
    if response is None:
        return events
    try:
        command = encode_command(response)
    except Exception:  # the usual path answers, or refuses, with the reason
        return events
    if len(command) > max_fragment_size(driver.send_capacity()):
        return events
    conn.message_sent()
    driver.messages_written += 1
    link.write_now(pdata_pdu(context.context_id, True, True, command))
    conn.request_done(int(event.message.message_id))  # type: ignore[union-attr]
    if driver._watch is not None:
        driver._watch.reading()  # bytes came: the reader's wait starts again
    return ANSWERED
