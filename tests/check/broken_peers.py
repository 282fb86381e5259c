"""Deliberately non-conformant peers: the negative controls of ``dicomnet check``
(issue 22 item 3). A check that no broken peer can fail is not a check.

:class:`ScriptedSCP` speaks PDUs itself (dicomnet's own Server would not let it
misbehave): it accepts every context, answers C-ECHO and a Study Root C-FIND on a few
made-up studies, releases, and can be told to break one rule at a time. Peers that
only need a wrong answer from a handler are dicomnet Servers (:func:`wrong_matching_server`,
:func:`wrong_status_server`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import anyio
from anyio.abc import SocketAttribute, SocketStream, TaskStatus
from pydicom import Dataset
from pydicom.uid import generate_uid

from dicomnet.archive.matching import identifier_matches
from dicomnet.check.sop_classes import MPPS, STORAGE_COMMITMENT, WORKLIST_FIND
from dicomnet.dimse import (
    CCancelRQ,
    CEchoRQ,
    CEchoRSP,
    CFindRQ,
    CFindRSP,
    CStoreRQ,
    CStoreRSP,
    DIMSEMessage,
    Reassembler,
    decode_dataset,
    encode_command,
    encode_dataset,
    fragment_message,
)
from dicomnet.dimse.reassembly import CommandReceived
from dicomnet.errors import DicomNetError
from dicomnet.incoming_request import IncomingRequest
from dicomnet.pdu import (
    PDV,
    AAbort,
    AAssociateAC,
    AAssociateRQ,
    AReleaseRP,
    AReleaseRQ,
    AsyncOperationsWindowSubItem,
    ImplementationClassUIDSubItem,
    MaximumLengthSubItem,
    PDataTF,
    PDUFramer,
    PresentationContextAC,
    RoleSelectionSubItem,
    UserInformationItem,
    UserSubItem,
    encode_pdu,
)
from dicomnet.server import Server
from dicomnet.uids import IMPLICIT_VR_LITTLE_ENDIAN

#: What the scripted peer does not speak, so refuses: the services group has its own
#: broken SCPs (broken_services.py).
UNSCRIPTED = frozenset({WORKLIST_FIND, STORAGE_COMMITMENT, MPPS})

#: A transfer syntax no check offers for Verification (JPEG Baseline).
NOT_OFFERED = "1.2.840.10008.1.2.4.50"
OUR_MAX_PDU = 16384


def made_up_studies(count: int) -> list[Dataset]:
    """``count`` studies of distinct patients (PAT0001, PAT0002, ...)."""
    studies = []
    for number in range(1, count + 1):
        ds = Dataset()
        ds.StudyInstanceUID = generate_uid()
        ds.StudyDate = "20260101"
        ds.StudyTime = "120000"
        ds.AccessionNumber = f"A{number}"
        ds.PatientID = f"PAT{number:04d}"
        ds.PatientName = f"DOE^{number}"
        ds.StudyID = str(number)
        ds.SeriesInstanceUID = generate_uid()
        studies.append(ds)
    return studies


def answer_identifier(query: Dataset, study: Dataset, drop: str | None = None) -> Dataset:
    """The keys asked for (but ``drop``), filled from ``study`` (PS3.4 C.4.1.1.3.2)."""
    ds = Dataset()
    ds.QueryRetrieveLevel = query.get("QueryRetrieveLevel", "STUDY")
    for element in query:
        if element.keyword and element.keyword not in ("QueryRetrieveLevel", drop):
            setattr(ds, element.keyword, study.get(element.keyword, ""))
    return ds


@dataclass
class ScriptedSCP:
    """An SCP that accepts everything and breaks one rule per flag."""

    #: answer C-ECHO as responding to this Message ID + offset (0: correct)
    echo_id_offset: int = 0
    #: accept every context with :data:`NOT_OFFERED`, offered or not
    wrong_syntax: bool = False
    #: go on answering a C-FIND as if no C-CANCEL came
    ignore_cancel: bool = False
    #: send all of a C-FIND's responses in one P-DATA-TF, whatever the requestor's max
    one_big_pdu: bool = False
    #: never hang up on garbage (unknown PDU types, bad items, PDUs over our maximum):
    #: ignore it and wait
    tolerant: bool = False
    #: reject every context whose transfer syntaxes are Implicit VR Little Endian only
    reject_implicit: bool = False
    #: grant both roles for every role selection proposed
    grant_roles: bool = False
    #: answer an asynchronous operations window proposal with this
    window: tuple[int, int] | None = None
    #: abort an association that carries a user identity
    abort_on_identity: bool = False
    #: answer A-RELEASE-RQ with A-ABORT
    abort_on_release: bool = False
    #: answer A-ABORT with A-ABORT
    answer_abort: bool = False
    #: the status of every C-STORE-RSP
    store_status: int = 0x0000
    #: say Success to C-STORE but keep nothing
    forget_stored: bool = False
    #: leave this key out of STUDY-level C-FIND matches
    drop_key: str | None = None
    #: the Affected SOP Class UID of every C-ECHO-RSP (None: the request's)
    echo_sop_class: str | None = None
    #: the final status of a cancelled C-FIND
    cancel_status: int = 0xFE00
    #: leave the Implementation Class UID out of the A-ASSOCIATE-AC
    no_implementation_uid: bool = False
    #: the Called AE Title of the A-ASSOCIATE-AC, instead of the one received
    called_title: str | None = None
    #: user information sub-items added to every A-ASSOCIATE-AC, whatever was proposed
    extra_replies: tuple[UserSubItem, ...] = ()
    #: abort an association whose requestor announces no maximum PDU (Maximum Length 0)
    abort_on_unlimited: bool = False
    #: serve one association at a time (the next waits until the one before ends)
    serial: bool = False
    #: stop listening (a crash) when a command carries a UID over 64 characters
    crash_on_long_uid: bool = False
    #: never answer a C-FIND whose identifier holds a value longer than this (the
    #: association is left open, hanging; others are still served)
    hang_on_long_value: int | None = None
    #: stop listening (a crash) on a C-FIND whose identifier holds a value longer than this
    crash_on_long_value: int | None = None
    #: the storage class it accepts at negotiation and then answers with 0x0122 (SOP
    #: Class not supported): a context accepted that it cannot handle
    unsupported_store: str | None = None
    #: the transfer syntax it accepts at negotiation and then answers every C-STORE
    #: in with 0xC000 (cannot understand): a syntax accepted that it cannot decode
    undecodable_syntax: str | None = None
    #: C-FIND identifiers end with an element whose value has an odd length
    odd_lengths: bool = False
    #: abort an association on a P-DATA-TF longer than this, though it announced
    #: OUR_MAX_PDU (PS3.8 D.1: anything up to that is valid)
    abort_over_pdu: int | None = None
    #: SOP classes it refuses: Study Root C-MOVE and C-GET, which only
    #: broken_retrieve.RetrieveSCP answers
    refused: tuple[str, ...] = ("1.2.840.10008.5.1.4.1.2.2.2", "1.2.840.10008.5.1.4.1.2.2.3")
    instances: list[Dataset] = field(default_factory=list)
    studies: list[Dataset] = field(default_factory=lambda: made_up_studies(3))
    port: int = 0
    connections: int = 0

    async def serve(self, *, task_status: TaskStatus[int] = anyio.TASK_STATUS_IGNORED
                    ) -> None:
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
        self.port = listener.listeners[0].extra(SocketAttribute.local_port)
        task_status.started(self.port)
        self._one_at_a_time = anyio.Lock()
        with anyio.CancelScope() as self._alive:
            async with listener:
                await listener.serve(self._converse)

    async def _converse(self, stream: SocketStream) -> None:
        if self.serial:
            async with self._one_at_a_time:
                await self._converse_now(stream)
        else:
            await self._converse_now(stream)

    async def _converse_now(self, stream: SocketStream) -> None:
        self.connections += 1
        framer = PDUFramer(max_pdata_length=0 if self.tolerant else OUR_MAX_PDU)
        conversation = _Conversation(self, stream, framer)
        try:
            with anyio.fail_after(60):
                try:
                    await conversation.run()
                except DicomNetError:
                    if not self.tolerant:
                        raise
                    while True:  # ignore it all until the requestor hangs up
                        await stream.receive()
        except (DicomNetError, anyio.BrokenResourceError, anyio.EndOfStream, OSError,
                TimeoutError):
            with anyio.move_on_after(1):
                await stream.send(encode_pdu(AAbort(source=2, reason=0)))
        finally:
            await anyio.aclose_forcefully(stream)


class _Conversation:
    def __init__(self, scp: ScriptedSCP, stream: SocketStream, framer: PDUFramer) -> None:
        self.scp = scp
        self.stream = stream
        self.framer = framer
        self.peer_max = 0
        self.syntaxes: dict[int, str] = {}
        self.early: list[PDataTF] = []

    async def next_pdu(self) -> object:
        while (pdu := self.framer.next_pdu()) is None:
            self.framer.feed(await self.stream.receive())
        return pdu

    async def run(self) -> None:
        rq = await self.next_pdu()
        if not isinstance(rq, AAssociateRQ):
            raise DicomNetError("no A-ASSOCIATE-RQ")
        self.peer_max = rq.user_information.maximum_length or 0
        scp = self.scp
        info = rq.user_information
        if scp.abort_on_unlimited and info.maximum_length == 0:
            await self.stream.send(encode_pdu(AAbort(source=2, reason=0)))
            return
        if scp.abort_on_identity and info.user_identity_rq is not None:
            await self.stream.send(encode_pdu(AAbort(source=2, reason=0)))
            return
        answers = []
        for pc in rq.presentation_contexts:
            if pc.abstract_syntax in UNSCRIPTED:  # PS3.8 Table 9-18: 3, not supported
                answers.append(PresentationContextAC(pc.context_id, 3, ""))
                continue
            offered = [ts for ts in pc.transfer_syntaxes
                       if not (scp.reject_implicit and ts == IMPLICIT_VR_LITTLE_ENDIAN)]
            if not offered or pc.abstract_syntax in scp.refused:
                answers.append(PresentationContextAC(pc.context_id, 4, ""))
                continue
            syntax = NOT_OFFERED if scp.wrong_syntax else offered[0]
            answers.append(PresentationContextAC(pc.context_id, 0, syntax))
            self.syntaxes[pc.context_id] = syntax
        replies: list[UserSubItem] = [MaximumLengthSubItem(OUR_MAX_PDU)]
        if not scp.no_implementation_uid:
            replies.append(ImplementationClassUIDSubItem("1.2.826.0.1.3680043.10.1"))
        if scp.window is not None and info.async_operations_window is not None:
            replies.append(AsyncOperationsWindowSubItem(*scp.window))
        if scp.grant_roles:
            replies.extend(RoleSelectionSubItem(item.sop_class_uid, True, True)
                           for item in info.role_selections)
        replies.extend(scp.extra_replies)
        await self.stream.send(encode_pdu(AAssociateAC(
            called_ae_title=scp.called_title or rq.called_ae_title,
            calling_ae_title=rq.calling_ae_title, presentation_contexts=tuple(answers),
            user_information=UserInformationItem(tuple(replies)))))
        reassembler = Reassembler(self.syntaxes)
        parts: list[bytes] = []
        command: tuple[int, DIMSEMessage] | None = None
        while True:
            pdu = self.early.pop(0) if self.early else await self.next_pdu()
            if isinstance(pdu, AReleaseRQ):
                await self.stream.send(encode_pdu(
                    AAbort(source=0, reason=0) if self.scp.abort_on_release else AReleaseRP()))
                return
            if isinstance(pdu, AAbort) and self.scp.answer_abort:
                await self.stream.send(encode_pdu(AAbort(source=0, reason=0)))
                return
            if not isinstance(pdu, PDataTF):
                return  # an A-ABORT, or something we do not take: hang up
            if scp.abort_over_pdu is not None \
                    and sum(len(pdv.data) + 6 for pdv in pdu.pdvs) > scp.abort_over_pdu:
                await self.stream.send(encode_pdu(AAbort(source=2, reason=0)))
                return
            if scp.crash_on_long_uid and any(len(part) > 64 for pdv in pdu.pdvs if pdv.is_command
                                             for part in bytes(pdv.data).split(b"\x00")):
                scp._alive.cancel()
                return
            for event in reassembler.feed(pdu):
                if isinstance(event, CommandReceived):
                    command = (event.context_id, event.message)
                    if not event.message.has_dataset:
                        await self.answer(*command, None)
                else:
                    parts.append(bytes(event.data))
                    if event.is_last and command is not None:
                        dataset = decode_dataset(b"".join(parts), self.syntaxes[command[0]])
                        parts = []
                        await self.answer(*command, dataset)

    async def send(self, context_id: int, message: DIMSEMessage,
                   dataset: Dataset | None = None) -> None:
        data = None if dataset is None else encode_dataset(dataset,
                                                           self.syntaxes[context_id])
        if data is not None and self.scp.odd_lengths and isinstance(message, CFindRSP):
            # (0099,0010) LO "ODD": 3 bytes, no padding (PS3.5 7.1.1 wants 4)
            explicit = self.syntaxes[context_id] == "1.2.840.10008.1.2.1"
            data = bytes(data) + b"\x99\x00\x10\x00" + (
                b"LO\x03\x00" if explicit else b"\x03\x00\x00\x00") + b"ODD"
        for pdu in fragment_message(context_id, encode_command(message), data,
                                    self.peer_max):
            await self.stream.send(pdu)

    async def answer(self, context_id: int, message: DIMSEMessage,
                     dataset: Dataset | None) -> None:
        if isinstance(message, CEchoRQ):
            await self.send(context_id, CEchoRSP(
                message_id_being_responded_to=message.message_id + self.scp.echo_id_offset,
                status=0, affected_sop_class_uid=self.scp.echo_sop_class
                or message.affected_sop_class_uid))
        elif isinstance(message, CFindRQ) and dataset is not None:
            await self.answer_find(context_id, message, dataset)
        elif isinstance(message, CStoreRQ) and dataset is not None:
            status = 0x0122 if message.affected_sop_class_uid == self.scp.unsupported_store \
                else 0xC000 if self.syntaxes[context_id] == self.scp.undecodable_syntax \
                else self.scp.store_status
            if status == 0 and not self.scp.forget_stored:
                self.scp.instances.append(dataset)
            await self.send(context_id, CStoreRSP(
                message_id_being_responded_to=message.message_id, status=status,
                affected_sop_class_uid=message.affected_sop_class_uid,
                affected_sop_instance_uid=message.affected_sop_instance_uid))

    async def cancelled(self) -> bool:
        """Whether a C-CANCEL came right behind the C-FIND (read for a moment; any
        other PDU read on the way is kept for the main loop)."""
        with anyio.move_on_after(0.3):
            while True:
                pdu = self.framer.next_pdu()
                if pdu is None:
                    self.framer.feed(await self.stream.receive())
                    continue
                assert isinstance(pdu, PDataTF)
                if any(pdv.is_command for pdv in pdu.pdvs) and isinstance(
                        _decode_command(pdu), CCancelRQ):
                    return True
                self.early.append(pdu)
                return False
        return False

    async def answer_find(self, context_id: int, message: CFindRQ, query: Dataset) -> None:
        longest = max((len(str(element.value)) for element in query), default=0)
        if self.scp.crash_on_long_value is not None \
                and longest > self.scp.crash_on_long_value:
            self.scp._alive.cancel()
            return
        if self.scp.hang_on_long_value is not None and longest > self.scp.hang_on_long_value:
            await anyio.sleep_forever()
        if query.get("QueryRetrieveLevel") == "IMAGE":
            wanted = query.get("SOPInstanceUID", "")
            matches = [ds for ds in self.scp.instances
                       if not wanted or ds.SOPInstanceUID == wanted]
        else:
            # every key, at STUDY and SERIES level (one series per study); at STUDY level
            # a SERIES key takes no part (PS3.4 C.4.1.3.1.1: a study has none of its own)
            keys = query
            if query.get("QueryRetrieveLevel") == "STUDY":
                keys = Dataset()
                keys.update({element.tag: element for element in query
                             if element.keyword not in ("SeriesInstanceUID", "Modality")})
            matches = [s for s in self.scp.studies if identifier_matches(keys, s)]
        stop = False if self.scp.ignore_cancel else await self.cancelled()
        responses: list[tuple[CFindRSP, Dataset | None]] = []
        if not stop:
            for study in matches:
                responses.append((CFindRSP(
                    message_id_being_responded_to=message.message_id, status=0xFF00,
                    affected_sop_class_uid=message.affected_sop_class_uid,
                    has_dataset=True), answer_identifier(query, study, self.scp.drop_key)))
        responses.append((CFindRSP(
            message_id_being_responded_to=message.message_id,
            status=self.scp.cancel_status if stop else 0x0000,
            affected_sop_class_uid=message.affected_sop_class_uid), None))
        if not self.scp.one_big_pdu:
            for response, identifier in responses:
                await self.send(context_id, response, identifier)
            return
        pdvs = []
        for response, identifier in responses:
            pdvs.append(PDV(context_id, True, True, encode_command(response)))
            if identifier is not None:
                pdvs.append(PDV(context_id, False, True,
                                encode_dataset(identifier, self.syntaxes[context_id])))
        await self.stream.send(encode_pdu(PDataTF(tuple(pdvs))))


def _decode_command(pdu: PDataTF) -> DIMSEMessage | None:
    from dicomnet.dimse import decode_command

    for pdv in pdu.pdvs:
        if pdv.is_command and pdv.is_last:
            return decode_command(pdv.data)
    return None


def wrong_matching_server(studies: list[Dataset]) -> Server:
    """A Server whose C-FIND ignores the query's keys: every study matches."""
    server = Server("BROKEN")

    @server.on_find()
    async def find_all(request: IncomingRequest) -> AsyncIterator[Dataset]:
        assert request.dataset is not None
        for study in studies:
            yield answer_identifier(request.dataset, study)

    return server


def wrong_status_server() -> Server:
    """A Server answering C-ECHO with Processing Failure (0x0110)."""
    server = Server("BROKEN")

    @server.on_echo()
    async def refuse(_request: IncomingRequest) -> int:
        return 0x0110

    return server


__all__ = ["ScriptedSCP", "made_up_studies", "wrong_matching_server",
           "wrong_status_server"]
