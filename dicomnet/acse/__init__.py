"""Association negotiation as pure functions (PS3.8 §7.1, PS3.7 Annex D), sans-IO.

The requestor builds an A-ASSOCIATE-RQ (:func:`build_request`) and reads the answer
(:func:`interpret_accept`); the acceptor checks a request against its
:class:`AcceptorPolicy` (:func:`check_request`) and answers it (:func:`negotiate`).
Both end with a :class:`Negotiated` view of the association.
"""

from dicomnet.acse.accept import (
    REJECT_APPLICATION_CONTEXT_NOT_SUPPORTED,
    REJECT_CALLED_AE_NOT_RECOGNIZED,
    REJECT_CALLING_AE_NOT_RECOGNIZED,
    REJECT_LOCAL_LIMIT_EXCEEDED,
    REJECT_NO_REASON,
    REJECT_PROTOCOL_VERSION_NOT_SUPPORTED,
    REJECT_TEMPORARY_CONGESTION,
    REJECT_USER_IDENTITY,
    AcceptorPolicy,
    check_request,
    even_context_ids,
    negotiate,
    reject,
)
from dicomnet.acse.negotiated import AcceptedContext, Negotiated
from dicomnet.acse.request import MAX_CONTEXTS, build_request, interpret_accept
from dicomnet.acse.titles import check_ae_title

__all__ = [
    "MAX_CONTEXTS",
    "REJECT_APPLICATION_CONTEXT_NOT_SUPPORTED",
    "REJECT_CALLED_AE_NOT_RECOGNIZED",
    "REJECT_CALLING_AE_NOT_RECOGNIZED",
    "REJECT_LOCAL_LIMIT_EXCEEDED",
    "REJECT_NO_REASON",
    "REJECT_PROTOCOL_VERSION_NOT_SUPPORTED",
    "REJECT_TEMPORARY_CONGESTION",
    "REJECT_USER_IDENTITY",
    "AcceptedContext",
    "AcceptorPolicy",
    "Negotiated",
    "build_request",
    "check_ae_title",
    "check_request",
    "even_context_ids",
    "interpret_accept",
    "negotiate",
    "reject",
]
