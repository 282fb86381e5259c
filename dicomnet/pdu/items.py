"""Items and sub-items of the association PDUs (PS3.8 §9.3.2-9.3.3, PS3.7 Annex D.3.3).

Each is a plain frozen record holding decoded values (str for UIDs and names, without
padding) and nothing of the wire: :func:`~dicomnet.pdu.encode_item` writes one, header
included, and :func:`~dicomnet.pdu.decode_item` / :func:`~dicomnet.pdu.decode_user_sub_item`
read one back. This module imports no codec, so the codec can depend on it one way.

Sub-items of the User Information item that dicomnet does not know are kept as
:class:`UnknownSubItem` and re-encoded unchanged: PS3.7 D.3.3 lets implementations
define their own, and dropping them would change what a proxy forwards.
"""

from __future__ import annotations

from dataclasses import field
from typing import TypeVar

from dicomnet.pdu.constants import DICOM_APPLICATION_CONTEXT
from dicomnet.records import record

_T = TypeVar("_T")


@record()
class ApplicationContextItem:
    """PS3.8 §9.3.2.1, item type 10H."""

    name: str = DICOM_APPLICATION_CONTEXT


@record()
class PresentationContextRQ:
    """PS3.8 §9.3.2.2, item type 20H: one abstract syntax (sub-item 30H) proposed with
    one or more transfer syntaxes (sub-items 40H), in the requestor's order of
    preference."""

    context_id: int
    abstract_syntax: str
    transfer_syntaxes: tuple[str, ...]


@record()
class PresentationContextAC:
    """PS3.8 §9.3.3.2, item type 21H: the acceptor's answer for one context.

    ``result`` is a :class:`~dicomnet.pdu.constants.ContextResult` value. When the
    context is not accepted the transfer syntax is not significant (PS3.8 §9.3.3.2);
    ``""`` stands for an empty or missing transfer syntax sub-item.
    """

    context_id: int
    result: int
    transfer_syntax: str = ""


# -- user information sub-items (PS3.7 Annex D.3.3, PS3.8 Annex D.1) -------------------


@record()
class MaximumLengthSubItem:
    """PS3.8 Annex D.1, sub-item 51H: the largest P-DATA-TF PDU length (the PDU's
    variable field) the sender will receive; 0 means no limit."""

    maximum_length: int


@record()
class ImplementationClassUIDSubItem:
    """PS3.7 D.3.3.2.1, sub-item 52H."""

    uid: str


@record()
class ImplementationVersionNameSubItem:
    """PS3.7 D.3.3.2.3, sub-item 55H (1 to 16 characters)."""

    name: str


@record()
class AsyncOperationsWindowSubItem:
    """PS3.7 D.3.3.3.1, sub-item 53H: outstanding operations the sender may invoke and
    may perform; 0 means unlimited."""

    max_operations_invoked: int
    max_operations_performed: int


@record()
class RoleSelectionSubItem:
    """PS3.7 D.3.3.4.1, sub-item 54H: whether the association-requestor may act as SCU
    and as SCP for one SOP class."""

    sop_class_uid: str
    scu_role: bool
    scp_role: bool


@record()
class SOPClassExtendedNegotiationSubItem:
    """PS3.7 D.3.3.5.1, sub-item 56H: service-class-specific bytes for one SOP class."""

    sop_class_uid: str
    service_class_application_information: bytes


@record()
class SOPClassCommonExtendedNegotiationSubItem:
    """PS3.7 D.3.3.6.1, sub-item 57H (requestor only): the service class of a SOP
    class and the related general SOP classes it specialises."""

    sop_class_uid: str
    service_class_uid: str
    related_general_sop_class_uids: tuple[str, ...] = ()
    version: int = 0  # the "sub-item version" byte in the header


@record()
class UserIdentityRQSubItem:
    """PS3.7 D.3.3.7.1, sub-item 58H. ``identity_type`` is a
    :class:`~dicomnet.pdu.constants.UserIdentityType` value; the secondary field is the
    passcode for type 2 and empty otherwise."""

    identity_type: int
    positive_response_requested: bool
    primary_field: bytes
    secondary_field: bytes = b""

    def __repr__(self) -> str:
        # Passcodes and tokens never reach a log line through a repr (PS3.15 hygiene).
        return (
            f"UserIdentityRQSubItem(identity_type={self.identity_type}, "
            f"positive_response_requested={self.positive_response_requested}, "
            f"primary_field=<{len(self.primary_field)} bytes>, "
            f"secondary_field=<{len(self.secondary_field)} bytes>)"
        )


@record()
class UserIdentityACSubItem:
    """PS3.7 D.3.3.7.2, sub-item 59H: the server response (empty when none)."""

    server_response: bytes

    def __repr__(self) -> str:
        return f"UserIdentityACSubItem(server_response=<{len(self.server_response)} bytes>)"


@record()
class UnknownSubItem:
    """A user information sub-item dicomnet does not interpret, kept verbatim."""

    item_type: int
    data: bytes
    reserved: int = 0  # the byte after the type, re-encoded as received


UserSubItem = (
    MaximumLengthSubItem
    | ImplementationClassUIDSubItem
    | ImplementationVersionNameSubItem
    | AsyncOperationsWindowSubItem
    | RoleSelectionSubItem
    | SOPClassExtendedNegotiationSubItem
    | SOPClassCommonExtendedNegotiationSubItem
    | UserIdentityRQSubItem
    | UserIdentityACSubItem
    | UnknownSubItem
)


@record()
class UserInformationItem:
    """PS3.8 §9.3.2.3 / §9.3.3.3, item type 50H: sub-items in the order received.

    The properties give typed access to the sub-items negotiation needs; the tuple keeps
    everything, unknown sub-items included.
    """

    sub_items: tuple[UserSubItem, ...] = field(default=())

    def _first(self, kind: type[_T]) -> _T | None:
        for sub in self.sub_items:
            if isinstance(sub, kind):
                return sub
        return None

    @property
    def maximum_length(self) -> int | None:
        sub = self._first(MaximumLengthSubItem)
        return None if sub is None else sub.maximum_length

    @property
    def implementation_class_uid(self) -> str | None:
        sub = self._first(ImplementationClassUIDSubItem)
        return None if sub is None else sub.uid

    @property
    def implementation_version_name(self) -> str | None:
        sub = self._first(ImplementationVersionNameSubItem)
        return None if sub is None else sub.name

    @property
    def async_operations_window(self) -> AsyncOperationsWindowSubItem | None:
        return self._first(AsyncOperationsWindowSubItem)

    @property
    def role_selections(self) -> tuple[RoleSelectionSubItem, ...]:
        return tuple(s for s in self.sub_items if isinstance(s, RoleSelectionSubItem))

    @property
    def extended_negotiations(self) -> tuple[SOPClassExtendedNegotiationSubItem, ...]:
        return tuple(
            s for s in self.sub_items if isinstance(s, SOPClassExtendedNegotiationSubItem)
        )

    @property
    def common_extended_negotiations(
        self,
    ) -> tuple[SOPClassCommonExtendedNegotiationSubItem, ...]:
        return tuple(
            s for s in self.sub_items
            if isinstance(s, SOPClassCommonExtendedNegotiationSubItem)
        )

    @property
    def user_identity_rq(self) -> UserIdentityRQSubItem | None:
        return self._first(UserIdentityRQSubItem)

    @property
    def user_identity_ac(self) -> UserIdentityACSubItem | None:
        return self._first(UserIdentityACSubItem)


#: An item that can stand directly in an A-ASSOCIATE-RQ/AC variable field.
Item = ApplicationContextItem | PresentationContextRQ | PresentationContextAC | UserInformationItem
