"""Negative controls of the retrieve group: :class:`RetrieveSCP` is the scripted SCP of
broken_peers.py that also answers Study Root C-GET and C-MOVE from the instances it was
sent, and breaks one retrieve rule per flag (PS3.4 C.4.2, C.4.3)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import anyio
from anyio.abc import SocketStream
from broken_peers import OUR_MAX_PDU, ScriptedSCP, _Conversation, _decode_command
from pydicom import Dataset
from pydicom.multival import MultiValue
from pydicom.uid import generate_uid

from dicomnet.check.model import Target
from dicomnet.check.probe import Probe, request
from dicomnet.check.sop_classes import UNCOMPRESSED
from dicomnet.client import connect
from dicomnet.dimse import CCancelRQ, CGetRQ, CGetRSP, CMoveRQ, CMoveRSP, CStoreRQ, DIMSEMessage
from dicomnet.errors import DicomNetError
from dicomnet.pdu import (
    AAbort,
    AAssociateAC,
    AAssociateRQ,
    AReleaseRP,
    AReleaseRQ,
    PDataTF,
    PDUFramer,
    encode_pdu,
)

GET_MOVE = (CGetRQ, CMoveRQ)


@dataclass
class RetrieveSCP(ScriptedSCP):
    """A scripted SCP with C-GET and C-MOVE; each flag breaks one rule."""

    #: pending responses whose counts do not add up, and final counts one too many
    miscount: bool = False
    #: send another instance than the one asked for (one, when none matched)
    wrong_instance: bool = False
    #: end with Success and the counts of every match, having sent nothing
    send_nothing: bool = False
    #: answer a C-MOVE to an AE title it does not know with Success
    unknown_destination_ok: bool = False
    #: the final status of a cancelled C-GET
    get_cancel_status: int = 0xFE00
    #: go on with every sub-operation of a C-GET, and end with Success, as if no
    #: C-CANCEL had come
    ignore_get_cancel: bool = False
    #: how the C-MOVE sub-operation association treats an A-RELEASE-RQ from the
    #: destination ("": as dicomnet's association does, PS3.8 Table 9-10; "abort": it
    #: releases itself and answers the destination's A-RELEASE-RQ with A-ABORT;
    #: "silent": it releases itself and never answers the destination's)
    release_flaw: str = ""
    #: the move destinations it knows: AE title -> (host, port)
    destinations: dict[str, tuple[str, int]] = field(default_factory=dict)
    refused: tuple[str, ...] = ()

    async def _converse(self, stream: SocketStream) -> None:
        conversation = _RetrieveConversation(self, stream, PDUFramer(
            max_pdata_length=OUR_MAX_PDU))
        try:
            with anyio.fail_after(60):
                await conversation.run()
        except (DicomNetError, anyio.BrokenResourceError, anyio.EndOfStream, OSError,
                TimeoutError):
            with anyio.move_on_after(1):
                await stream.send(encode_pdu(AAbort(source=2, reason=0)))
        finally:
            await anyio.aclose_forcefully(stream)


class _RetrieveConversation(_Conversation):
    scp: RetrieveSCP

    def __init__(self, scp: RetrieveSCP, stream: SocketStream, framer: PDUFramer) -> None:
        super().__init__(scp, stream, framer)
        self.scp = scp
        self.abstract: dict[str, int] = {}

    async def next_pdu(self) -> object:
        pdu = await super().next_pdu()
        if isinstance(pdu, AAssociateRQ):  # which context carries which SOP class
            self.abstract = {pc.abstract_syntax: pc.context_id
                             for pc in pdu.presentation_contexts}
        return pdu

    async def answer(self, context_id: int, message: DIMSEMessage,
                     dataset: Dataset | None) -> None:
        if isinstance(message, GET_MOVE) and dataset is not None:
            await self.retrieve(context_id, message, dataset)
        else:
            await super().answer(context_id, message, dataset)

    def matches(self, query: Dataset) -> list[Dataset]:
        level = query.get("QueryRetrieveLevel", "")
        key = "SOPInstanceUID" if level == "IMAGE" else "StudyInstanceUID"
        value = query.get(key, "")
        # List of UID Matching (PS3.4 C.2.2.2.2): pydicom reads "a\\b" as a list
        wanted = {str(uid) for uid in value} if isinstance(value, list | MultiValue) \
            else {str(value)}
        found = [ds for ds in self.scp.instances if str(ds.get(key, "")) in wanted]
        if self.scp.wrong_instance and self.scp.instances:
            # the first match (any instance, when none matched) with a new identity
            stranger = copy.deepcopy((found or self.scp.instances)[0])
            stranger.SOPInstanceUID = generate_uid()
            return [stranger, *found[1:]]
        return found

    async def retrieve(self, context_id: int, message: CGetRQ | CMoveRQ,
                       query: Dataset) -> None:
        scp = self.scp
        response = CGetRSP if isinstance(message, CGetRQ) else CMoveRSP
        matches = self.matches(query)
        total = len(matches)

        async def answer(status: int, remaining: int | None, completed: int) -> None:
            await self.send(context_id, response(
                message_id_being_responded_to=message.message_id, status=status,
                affected_sop_class_uid=message.affected_sop_class_uid,
                number_of_remaining_suboperations=remaining,
                number_of_completed_suboperations=completed,
                number_of_failed_suboperations=0, number_of_warning_suboperations=0))

        if isinstance(message, CMoveRQ):
            address = scp.destinations.get(message.move_destination)
            if address is None and not scp.unknown_destination_ok:
                await answer(0xA801, None, 0)
                return
            if address is not None and scp.release_flaw and matches:
                await _move_releasing_badly(address, message.move_destination, matches,
                                            scp.release_flaw)
            elif address is not None and not scp.send_nothing and matches:
                async with connect(*address, called_ae=message.move_destination,
                                   calling_ae="BROKEN",
                                   contexts=[str(ds.SOPClassUID) for ds in matches]
                                   ) as association:
                    for ds in matches:
                        await association.store(ds)
            elif address is None:
                total = 0
            await answer(0x0000, None, total + scp.miscount)
            return
        completed = 0
        for number, ds in enumerate(matches if not scp.send_nothing else [], 1):
            await self.send(self.abstract[str(ds.SOPClassUID)], CStoreRQ(
                message_id=1000 + number, affected_sop_class_uid=str(ds.SOPClassUID),
                affected_sop_instance_uid=str(ds.SOPInstanceUID)), ds)
            await self.store_response()
            completed = number
            if number == 1 and not scp.ignore_get_cancel and await self.cancelled():
                await answer(scp.get_cancel_status, total - completed, completed + scp.miscount)
                return
            if number < total:
                await answer(0xFF00, total - completed + 2 * scp.miscount, completed)
        if scp.send_nothing:
            completed = total
        await answer(0x0000, None, completed + scp.miscount)

    async def store_response(self) -> None:
        """Read the C-STORE-RSP of a sub-operation (past a C-CANCEL it ignores)."""
        while True:
            pdu = self.early.pop(0) if self.early else await self.next_pdu()
            command = _decode_command(pdu) if isinstance(pdu, PDataTF) else None
            if command is None:
                raise DicomNetError("no C-STORE-RSP to a sub-operation")
            if not isinstance(command, CCancelRQ):
                return


async def _move_releasing_badly(address: tuple[str, int], destination: str,
                                matches: list[Dataset], flaw: str) -> None:
    """The sub-operations on an association driven PDU by PDU: each C-STORE, then our
    A-RELEASE-RQ; an A-RELEASE-RQ from the destination (a release collision, PS3.8
    Table 9-10 Sta7 + Evt12, AR-8: answer with A-RELEASE-RP) is answered with A-ABORT
    (``flaw="abort"``) or not at all (``"silent"``)."""
    host, port = str(address[0]), int(address[1])
    target = Target(host, port, called_ae=destination, calling_ae="BROKEN")
    classes = sorted({str(ds.SOPClassUID) for ds in matches})
    rq = request(target, [(sop_class, UNCOMPRESSED) for sop_class in classes])
    async with Probe(target) as probe:
        if not isinstance(await probe.associate(rq), AAssociateAC):
            return
        for number, ds in enumerate(matches, 1):
            context_id = probe.context_for(rq, str(ds.SOPClassUID))
            assert context_id is not None
            await probe.send_message(context_id, CStoreRQ(
                message_id=2000 + number, affected_sop_class_uid=str(ds.SOPClassUID),
                affected_sop_instance_uid=str(ds.SOPInstanceUID)), ds)
            await probe.receive_message()
        await probe.send(AReleaseRQ())
        with anyio.move_on_after(15):
            while (pdu := await probe.receive_pdu(15)) is not None:
                if isinstance(pdu, AReleaseRQ) and flaw == "abort":
                    await probe.send(AAbort(source=0, reason=0))
                    return
                if isinstance(pdu, AReleaseRP | AAbort):
                    return


__all__ = ["RetrieveSCP"]
