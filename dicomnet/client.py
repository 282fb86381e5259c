"""The requestor side: :func:`connect` opens an association and yields it.

``async with dicomnet.connect(...) as assoc`` releases the association when the block
ends normally and aborts it when the block raises, so an association is never left half
open.
"""

from __future__ import annotations

import logging
import ssl as _ssl
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager

import anyio
from anyio.abc import ByteStream

from dicomnet.acse import build_request, interpret_accept
from dicomnet.association import RequestHook
from dicomnet.config import DEFAULT_MAX_PDU_LENGTH, MAX_IDENTIFIER_SIZE, Timeouts
from dicomnet.events import EventCallback, EventHub, as_hub
from dicomnet.pdu import UserIdentityRQSubItem
from dicomnet.service_methods import Association
from dicomnet.uids import DEFAULT_TRANSFER_SYNTAXES, VERIFICATION, uid_name

log = logging.getLogger("dicomnet.client")

#: A presentation context to propose: an abstract syntax UID (with the default transfer
#: syntaxes) or an (abstract syntax, transfer syntaxes) pair.
ContextSpec = str | tuple[str, Sequence[str]]


def normalise_contexts(contexts: Sequence[ContextSpec] | None) -> list[tuple[str, list[str]]]:
    """Turn the user's context list into (abstract syntax, [transfer syntaxes]) pairs."""
    if not contexts:
        contexts = [VERIFICATION]
    result: list[tuple[str, list[str]]] = []
    for spec in contexts:
        if isinstance(spec, str):
            result.append((spec, list(DEFAULT_TRANSFER_SYNTAXES)))
        else:
            abstract, syntaxes = spec
            result.append((abstract, list(syntaxes) or list(DEFAULT_TRANSFER_SYNTAXES)))
    return result


@asynccontextmanager
async def connect(
    host: str,
    port: int,
    *,
    called_ae: str = "ANY-SCP",
    calling_ae: str = "DICOMNET",
    contexts: Sequence[ContextSpec] | None = None,
    ssl: _ssl.SSLContext | None = None,
    tls_hostname: str | None = None,
    timeouts: Timeouts | None = None,
    max_pdu_length: int = DEFAULT_MAX_PDU_LENGTH,
    max_identifier_size: int | None = MAX_IDENTIFIER_SIZE,
    async_window: tuple[int, int] | None = None,
    roles: Mapping[str, tuple[bool, bool]] | None = None,
    extended: Mapping[str, bytes] | None = None,
    user_identity: UserIdentityRQSubItem | None = None,
    on_request: RequestHook | None = None,
    on_event: EventHub | EventCallback | None = None,
) -> AsyncIterator[Association]:
    """Open an association to ``host:port`` and yield it; release it on exit.

    ``contexts`` lists what to propose (default: Verification). ``async_window`` is
    (max operations invoked, max operations performed) to propose (PS3.7 D.3.3.3);
    ``roles`` maps SOP class UIDs to (SCU, SCP) role proposals (PS3.7 D.3.3.4);
    ``on_request`` handles requests the peer sends us (C-STORE during C-GET, ...);
    ``on_event`` (a function or an :class:`~dicomnet.events.EventHub`) receives the
    association's typed events (:mod:`dicomnet.events`), as the log does.
    ``max_identifier_size`` bounds a data set from the peer that is held in memory
    whole: past it, a response's ends the association with an A-ABORT naming the
    limit; a request's (an N-EVENT-REPORT's; never a C-STORE's) reaches ``on_request``
    with no data set and ``sink_error`` set. None for no bound.
    Raises :class:`~dicomnet.errors.AssociationRejectedError`,
    :class:`~dicomnet.errors.AssociationAbortedError` or
    :class:`~dicomnet.errors.DicomTimeoutError`; ``OSError`` when nothing listens.
    """
    timeouts = timeouts or Timeouts()
    proposal = normalise_contexts(contexts)
    request = build_request(
        calling_ae_title=calling_ae,
        called_ae_title=called_ae,
        contexts=proposal,
        max_pdu_length=max_pdu_length,
        async_window=async_window,
        roles=roles,
        extended=extended,
        user_identity=user_identity,
    )

    async def open_stream() -> ByteStream:
        if ssl is None:
            return await anyio.connect_tcp(host, port)
        return await anyio.connect_tcp(host, port, ssl_context=ssl,
                                       tls_hostname=tls_hostname or host)

    association = Association(stream=None, timeouts=timeouts, max_pdu_length=max_pdu_length,
                              max_identifier_size=max_identifier_size,
                              on_request=on_request, peer=(host, port),
                              events=as_hub(on_event))
    try:
        async with anyio.create_task_group() as tg:
            # Requested, accepted (or not): logged as the association's events.
            await association.open(tg, request, open_stream, interpret_accept)
            if log.isEnabledFor(logging.DEBUG):
                for ctx in association.negotiated.accepted.values():
                    log.debug("accepted context %d: %s / %s", ctx.context_id,
                              uid_name(ctx.abstract_syntax), uid_name(ctx.transfer_syntax))
            try:
                yield association
            except BaseException as exc:
                with anyio.CancelScope(shield=True):
                    await association.abort(why=f"the block using it raised "
                                                f"{type(exc).__name__}")
                raise
            else:
                await association.release()
    except BaseExceptionGroup as group:
        # The task group wraps whatever ends it; callers want the error itself
        # (AssociationRejectedError, their own exception...), not a group of one.
        raise _sole_exception(group) from None


def _sole_exception(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The one real exception inside (possibly nested) groups, else the group itself."""
    leaves: list[BaseException] = []
    pending: list[BaseException] = [group]
    while pending:
        item = pending.pop()
        if isinstance(item, BaseExceptionGroup):
            pending.extend(item.exceptions)
        else:
            leaves.append(item)
    return leaves[0] if len(leaves) == 1 else group
