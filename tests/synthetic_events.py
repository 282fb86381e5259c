"""Event records built by hand, as the association driver would emit them: the event
layer's tests need no network to check what subscribers do with them."""

from __future__ import annotations

from dicomnet.acse import AcceptedContext, Negotiated
from dicomnet.dimse import CEchoRQ, CEchoRSP, CFindRQ, CFindRSP, CStoreRQ, CStoreRSP
from dicomnet.events import (
    AssociationAborted,
    AssociationAccepted,
    AssociationInfo,
    AssociationReleased,
    AssociationRequested,
    ConnectionClosed,
    Event,
    RequestAnswered,
    RequestReceived,
    RequestSent,
    ResponseReceived,
)
from dicomnet.pdu import AAssociateRQ, PresentationContextRQ

VERIFICATION = "1.2.840.10008.1.1"
CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
STUDY_FIND = "1.2.840.10008.5.1.4.1.2.2.1"
EXPLICIT_LE = "1.2.840.10008.1.2.1"


def info(association_id: int = 7, role: str = "acceptor", *,
         calling: str | None = "STORESCU", called: str | None = "DICOMNET"
         ) -> AssociationInfo:
    return AssociationInfo(id=association_id, role="acceptor" if role == "acceptor"
                           else "requestor", peer_address="127.0.0.1", peer_port=40404,
                           calling_ae_title=calling, called_ae_title=called)


def request(association: AssociationInfo) -> AAssociateRQ:
    return AAssociateRQ(
        called_ae_title=association.called_ae_title or "",
        calling_ae_title=association.calling_ae_title or "",
        presentation_contexts=(PresentationContextRQ(1, VERIFICATION, (EXPLICIT_LE,)),
                               PresentationContextRQ(3, CT_STORAGE, (EXPLICIT_LE,))))


def negotiated(association: AssociationInfo) -> Negotiated:
    return Negotiated(
        is_requestor=association.role == "requestor",
        calling_ae_title=association.calling_ae_title or "",
        called_ae_title=association.called_ae_title or "",
        accepted={1: AcceptedContext(1, VERIFICATION, EXPLICIT_LE)},
        rejected={3: (CT_STORAGE, 3)}, peer_max_pdu_length=16384)


def echo_rq(message_id: int = 1) -> CEchoRQ:
    return CEchoRQ(message_id=message_id, affected_sop_class_uid=VERIFICATION)


def echo_rsp(message_id: int = 1, status: int = 0) -> CEchoRSP:
    return CEchoRSP(message_id_being_responded_to=message_id, status=status,
                    affected_sop_class_uid=VERIFICATION)


def store_rq(message_id: int = 2) -> CStoreRQ:
    return CStoreRQ(message_id=message_id, affected_sop_class_uid=CT_STORAGE,
                    affected_sop_instance_uid="1.2.3.4.5.6.7.8.9")


def store_rsp(message_id: int = 2, status: int = 0, comment: str | None = None
              ) -> CStoreRSP:
    return CStoreRSP(message_id_being_responded_to=message_id, status=status,
                     affected_sop_class_uid=CT_STORAGE,
                     affected_sop_instance_uid="1.2.3.4.5.6.7.8.9", error_comment=comment)


def find_rq(message_id: int = 3) -> CFindRQ:
    return CFindRQ(message_id=message_id, affected_sop_class_uid=STUDY_FIND)


def find_rsp(message_id: int = 3, status: int = 0) -> CFindRSP:
    return CFindRSP(message_id_being_responded_to=message_id, status=status,
                    affected_sop_class_uid=STUDY_FIND)


def served_association(association_id: int = 7, start: float = 1000.0) -> list[Event]:
    """What a server emits for one association: requested, accepted, an echo, a
    C-STORE that fails, released, closed; times one second apart from ``start``."""
    who = info(association_id)
    return [
        AssociationRequested(association=who, request=request(who), time=start),
        AssociationAccepted(association=who, negotiated=negotiated(who), duration=0.01,
                            time=start + 1),
        RequestReceived(association=who, context_id=1, abstract_syntax=VERIFICATION,
                        message=echo_rq(1), dataset_size=None, time=start + 2),
        RequestAnswered(association=who, request=echo_rq(1), response=echo_rsp(1),
                        status=0, duration=0.5, time=start + 2.5),
        RequestReceived(association=who, context_id=3, abstract_syntax=CT_STORAGE,
                        message=store_rq(2), dataset_size=5000, time=start + 3),
        RequestAnswered(association=who, request=store_rq(2),
                        response=store_rsp(2, 0xA700, "out of space"), status=0xA700,
                        duration=0.25, dataset_size=None, time=start + 3.25),
        AssociationReleased(association=who, duration=5.0, time=start + 5),
        ConnectionClosed(association=who, duration=5.1, time=start + 5.1),
    ]


def requested_association(association_id: int = 8, start: float = 2000.0) -> list[Event]:
    """What connect() emits: a C-FIND with two pending responses, then an abort."""
    who = info(association_id, "requestor", calling="FINDSCU", called="PACS")
    return [
        AssociationRequested(association=who, request=request(who), time=start),
        AssociationAccepted(association=who, negotiated=negotiated(who), duration=0.02,
                            time=start + 1),
        RequestSent(association=who, context_id=5, abstract_syntax=STUDY_FIND,
                    message=find_rq(3), dataset_size=120, time=start + 2),
        ResponseReceived(association=who, request=find_rq(3), response=find_rsp(3, 0xFF00),
                         status=0xFF00, pending=True, duration=0.1, dataset_size=300,
                         time=start + 2.1),
        ResponseReceived(association=who, request=find_rq(3), response=find_rsp(3, 0xFF00),
                         status=0xFF00, pending=True, duration=0.2, dataset_size=200,
                         time=start + 2.2),
        ResponseReceived(association=who, request=find_rq(3), response=find_rsp(3, 0),
                         status=0, pending=False, duration=0.3, time=start + 2.3),
        RequestSent(association=who, context_id=1, abstract_syntax=VERIFICATION,
                    message=echo_rq(4), dataset_size=None, time=start + 3),
        AssociationAborted(association=who, source=2, reason=1,
                           text="aborted by the peer's service provider", local=False,
                           time=start + 4),
        ConnectionClosed(association=who, duration=4.0, time=start + 4.0),
    ]
