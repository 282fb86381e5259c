"""Verification Service Class (PS3.4 Annex A): C-ECHO in both roles."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from dicomnet.dimse import CEchoRQ, CEchoRSP, Status
from dicomnet.errors import NegotiationError
from dicomnet.uids import VERIFICATION

if TYPE_CHECKING:
    from dicomnet.association import Association, IncomingRequest

#: A server-side C-ECHO handler: returns the status to send (PS3.4 A.4: 0000 success).
EchoHandler = Callable[["IncomingRequest"], Awaitable[int]]


async def echo(association: Association) -> int:
    """Send C-ECHO-RQ on the Verification context and return the response status."""
    context = association.negotiated.find_context(VERIFICATION)
    if context is None:
        raise NegotiationError(
            "the peer did not accept the Verification SOP Class (1.2.840.10008.1.1); "
            "propose it in contexts=")
    request = CEchoRQ(message_id=association.new_message_id(),
                      affected_sop_class_uid=VERIFICATION)
    return (await association.request_one(context, request)).status


async def answer_echo(request: IncomingRequest, handler: EchoHandler | None) -> None:
    """Answer a C-ECHO-RQ with the handler's status (success when there is none)."""
    message = request.message
    assert isinstance(message, CEchoRQ)
    status = Status.SUCCESS if handler is None else await handler(request)
    await request.respond(CEchoRSP(
        message_id_being_responded_to=message.message_id,
        affected_sop_class_uid=message.affected_sop_class_uid,
        status=int(status),
    ))
