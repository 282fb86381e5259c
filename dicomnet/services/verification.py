"""Verification Service Class (PS3.4 Annex A): C-ECHO in both roles."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from dicomnet.dimse import CEchoRQ, CEchoRSP, Status
from dicomnet.errors import NegotiationError
from dicomnet.services.failure import ServiceFailure
from dicomnet.uids import VERIFICATION

if TYPE_CHECKING:
    from dicomnet.association import AssociationDriver, IncomingRequest, Response

#: A server-side C-ECHO handler: returns the status to send (PS3.4 A.4: 0000 success).
EchoHandler = Callable[["IncomingRequest"], Awaitable[int]]


async def echo(association: AssociationDriver) -> int:
    """Send C-ECHO-RQ on the Verification context and return the response status."""
    return (await echo_response(association)).status


async def echo_response(association: AssociationDriver) -> Response:
    """:func:`echo`, returning the whole response (its Error Comment, say)."""
    context = association.negotiated.find_context(VERIFICATION)
    if context is None:
        raise NegotiationError(
            "the peer did not accept the Verification SOP Class (1.2.840.10008.1.1); "
            "propose it in contexts=")
    request = CEchoRQ(affected_sop_class_uid=VERIFICATION)
    return await association.request_one(context, request)


async def answer_echo(request: IncomingRequest, handler: EchoHandler | None) -> None:
    """Answer a C-ECHO-RQ with the handler's status (success when there is none)."""
    message = request.message
    assert isinstance(message, CEchoRQ)
    comment = None
    try:
        status = Status.SUCCESS if handler is None else await handler(request)
    except ServiceFailure as failure:  # a refusal with its reason
        status, comment = failure.status, failure.comment
    await request.respond(CEchoRSP(
        message_id_being_responded_to=message.message_id,
        affected_sop_class_uid=message.affected_sop_class_uid,
        status=int(status), error_comment=comment,
    ))
