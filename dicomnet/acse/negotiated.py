"""What an association negotiation agreed on, seen from one side (PS3.7 Annex D).

Both sides compute the same facts from the A-ASSOCIATE-RQ and -AC, so a
:class:`Negotiated` records them once, from the requestor's point of view, plus which
side it belongs to; the methods answer "may *I* act as SCU/SCP on this context".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import field
from types import MappingProxyType

from dicomnet.pdu import UserIdentityRQSubItem
from dicomnet.records import record

__all__ = ["AcceptedContext", "Negotiated"]


@record()
class AcceptedContext:
    """An accepted presentation context (PS3.8 §7.1.1.13-14) with its roles.

    ``scu_role``/``scp_role`` are the roles of the association *requestor* (PS3.7
    D.3.3.4); the acceptor plays the complementary ones.
    """

    context_id: int
    abstract_syntax: str
    transfer_syntax: str
    scu_role: bool = True
    scp_role: bool = False


def _frozen(mapping: Mapping[object, object] | None) -> Mapping[object, object]:
    return MappingProxyType(dict(mapping or {}))


@record()
class Negotiated:
    """The outcome of association negotiation, from one side's point of view.

    Mappings are read-only views. ``max_invoke`` is how many requests this side may
    have outstanding on the peer, ``max_perform`` how many the peer may have
    outstanding on this side (0 = unlimited, PS3.7 D.3.3.3).
    """

    is_requestor: bool
    calling_ae_title: str
    called_ae_title: str
    accepted: Mapping[int, AcceptedContext]
    rejected: Mapping[int, tuple[str, int]] = field(default_factory=dict)
    local_max_pdu_length: int = 0
    peer_max_pdu_length: int = 0
    max_invoke: int = 1
    max_perform: int = 1
    peer_implementation_class_uid: str | None = None
    peer_implementation_version_name: str | None = None
    extended: Mapping[str, bytes] = field(default_factory=dict)
    user_identity: UserIdentityRQSubItem | None = None
    user_identity_response: bytes | None = None

    def __post_init__(self) -> None:
        for name in ("accepted", "rejected", "extended"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))

    def contexts_for(self, abstract_syntax: str) -> list[AcceptedContext]:
        """Accepted contexts for an abstract syntax, in context ID order."""
        return [ctx for _id, ctx in sorted(self.accepted.items())
                if ctx.abstract_syntax == abstract_syntax]

    def can_act_as_scu(self, context: AcceptedContext) -> bool:
        """May the local side send requests on ``context``?"""
        return context.scu_role if self.is_requestor else context.scp_role

    def can_act_as_scp(self, context: AcceptedContext) -> bool:
        """May the local side answer requests on ``context``?"""
        return context.scp_role if self.is_requestor else context.scu_role

    def find_context(self, abstract_syntax: str,
                     transfer_syntaxes: Sequence[str] | None = None, *,
                     as_scp: bool = False) -> AcceptedContext | None:
        """The context to use for ``abstract_syntax``: the first whose transfer syntax
        comes earliest in ``transfer_syntaxes`` (any, if None) and on which the local
        side may act in the wanted role."""
        usable = [ctx for ctx in self.contexts_for(abstract_syntax)
                  if (self.can_act_as_scp(ctx) if as_scp else self.can_act_as_scu(ctx))]
        if transfer_syntaxes is None:
            return usable[0] if usable else None
        for syntax in transfer_syntaxes:
            for ctx in usable:
                if ctx.transfer_syntax == syntax:
                    return ctx
        return None
