"""Admission: which TCP connections a server keeps while they are not associations yet.

A connection costs a socket and a task from the moment it is accepted, but it only
becomes an association once its A-ASSOCIATE-RQ has arrived whole (PS3.8 §9.2, Sta2 ->
Sta3). Counting it against ``max_associations`` from the accept on would let anyone who
opens TCP connections and sends nothing (or drips the A-ASSOCIATE-RQ, or stalls in the
TLS handshake) take every association slot. So the two phases have separate books:

- *pending* connections (accepted, in the TLS handshake, or still sending their
  A-ASSOCIATE-RQ; or rejected and closing) have their own bound, overall and per
  address, and when a bound is reached the OLDEST pending connection makes room for the
  new one. A real peer sends its A-ASSOCIATE-RQ within a round trip or two of
  connecting, so the connection that has waited longest is the least likely to be one;
  refusing the newcomer instead would let a peer that keeps opening connections shut
  everybody out for good. (The server also gives each pending connection a short total
  deadline; that lives in the server, which owns the clock.)
- *associations* (the A-ASSOCIATE-RQ is whole: being decided or accepted) count against
  ``max_associations`` and, optionally, a per-address bound; beyond them the server
  answers "local limit exceeded" (PS3.8 Table 9-21).

This module is pure bookkeeping: no sockets, no tasks, no clock (times are passed in),
so it is tested without a network. :class:`DropLog` decides which of many refusals and
drops deserve a WARNING, so that a flood of connections cannot flood the log as well.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from typing import Protocol

from dicomnet.access_rules import peer_group

#: Why a connection was dropped or refused; the keys of :class:`DropLog`'s counts.
EVICTED = "evicted (pending bound)"
EVICTED_ADDRESS = "evicted (per-address pending bound)"
DEADLINE = "no A-ASSOCIATE-RQ within the deadline"
HANDSHAKE = "TLS handshake failed"
ASSOCIATION_LIMIT = "rejected (association limit)"
ASSOCIATION_ADDRESS_LIMIT = "rejected (per-address association limit)"


#: The address a per-address bound counts by (an IPv6 /64 counts as one).
address_key = peer_group


@dataclass(eq=False)
class Ticket:
    """One accepted connection, from its accept until it closes."""

    address: str  #: the :func:`address_key` it counts under
    accepted_at: float
    #: "pending" (no whole A-ASSOCIATE-RQ yet, or rejected), "associated" (the
    #: A-ASSOCIATE-RQ is whole: being decided or accepted) or "gone".
    phase: str = "pending"
    #: Why it was chosen to be cut to make room (empty if it was not).
    cut_reason: str = ""


#: A pending connection to cut, and why (one of the reasons above).
Eviction = tuple[Ticket, str]


class SharedCounts(Protocol):
    """Association counts kept with other processes serving the same port (``serve
    --workers``: :mod:`dicomnet.worker_books`), so that the association bounds hold
    for the whole server."""

    def take(self, address: str) -> str | None:
        """Count one association from ``address``, or say which bound refuses it."""

    def give_back(self, address: str) -> None:
        """An association counted by :meth:`take` has ended."""


@dataclass
class Admission:
    """The books of pending connections and associations, by address and age.

    ``None`` for a bound means no bound. The server calls :meth:`arrive` at each accept
    (and cuts the connection it returns, if any), :meth:`request_complete` when an
    A-ASSOCIATE-RQ is whole, :meth:`rejected` if that association is then refused, and
    :meth:`leave` when the connection closes.
    """

    max_pending: int | None = 256
    max_pending_per_address: int | None = 32
    max_associations: int | None = 64
    max_associations_per_address: int | None = None
    # Insertion-ordered: the first item is the one to evict first (the oldest, or a
    # rejected connection, which has had its answer already).
    _pending: OrderedDict[Ticket, None] = field(default_factory=OrderedDict)
    _pending_by_address: dict[str, OrderedDict[Ticket, None]] = field(default_factory=dict)
    _associated: Counter[str] = field(default_factory=Counter)
    #: With worker processes: the counts of the whole server, checked after ours.
    shared: SharedCounts | None = None

    @property
    def pending(self) -> int:
        """Connections that have not sent a whole A-ASSOCIATE-RQ (or were rejected)."""
        return len(self._pending)

    @property
    def associated(self) -> int:
        """Connections whose A-ASSOCIATE-RQ is whole and not refused."""
        return sum(self._associated.values())

    def pending_from(self, address: str) -> int:
        return len(self._pending_by_address.get(address, ()))

    def arrive(self, host: str, now: float) -> tuple[Ticket, Eviction | None]:
        """Book a newly accepted connection from ``host``; returns its ticket and the
        pending connection to cut to make room for it, with the reason (None if there
        is room)."""
        ticket = Ticket(address_key(host), now)
        eviction = self._make_room(ticket.address)
        self._add_pending(ticket, oldest=False)
        return ticket, eviction

    def request_complete(self, ticket: Ticket) -> str | None:
        """The connection's A-ASSOCIATE-RQ is whole: count it as an association, or say
        which limit refuses it (it then stays pending until it closes). A ticket that
        was cut meanwhile is refused too."""
        if ticket.phase != "pending":
            return EVICTED
        if self.max_associations is not None \
                and self.associated >= self.max_associations:
            return ASSOCIATION_LIMIT
        if self.max_associations_per_address is not None \
                and self._associated[ticket.address] >= self.max_associations_per_address:
            return ASSOCIATION_ADDRESS_LIMIT
        if self.shared is not None:
            refusal = self.shared.take(ticket.address)
            if refusal is not None:
                return refusal
        self._remove_pending(ticket)
        ticket.phase = "associated"
        self._associated[ticket.address] += 1
        return None

    def rejected(self, ticket: Ticket) -> Eviction | None:
        """An association counted by :meth:`request_complete` was refused after all
        (AE title, address, user identity): it is pending again while it closes, first
        in line to be cut. Returns a pending connection to cut if that went over the
        bound."""
        if ticket.phase != "associated":
            return None
        self._uncount(ticket)
        eviction = self._make_room(ticket.address)
        self._add_pending(ticket, oldest=True)
        return eviction

    def leave(self, ticket: Ticket) -> None:
        """The connection is closed: forget it."""
        if ticket.phase == "pending":
            self._remove_pending(ticket)
        elif ticket.phase == "associated":
            self._uncount(ticket)
        ticket.phase = "gone"

    def oldest_pending(self) -> list[Ticket]:
        """Every pending connection, the first to be cut first."""
        return list(self._pending)

    # -- internals ------------------------------------------------------------------

    def _make_room(self, address: str) -> Eviction | None:
        """Remove and return the pending connection that must go before one more from
        ``address`` fits: the oldest from that address if it is at its own bound, else
        the oldest of all if the whole table is full."""
        same = self._pending_by_address.get(address)
        if same and self.max_pending_per_address is not None \
                and len(same) >= self.max_pending_per_address:
            victim, reason = next(iter(same)), EVICTED_ADDRESS
        elif self._pending and self.max_pending is not None \
                and len(self._pending) >= self.max_pending:
            victim, reason = next(iter(self._pending)), EVICTED
        else:
            return None
        self._remove_pending(victim)
        victim.phase = "gone"
        victim.cut_reason = reason
        return victim, reason

    def _add_pending(self, ticket: Ticket, *, oldest: bool) -> None:
        ticket.phase = "pending"
        self._pending[ticket] = None
        same = self._pending_by_address.setdefault(ticket.address, OrderedDict())
        same[ticket] = None
        if oldest:
            self._pending.move_to_end(ticket, last=False)
            same.move_to_end(ticket, last=False)

    def _remove_pending(self, ticket: Ticket) -> None:
        self._pending.pop(ticket, None)
        same = self._pending_by_address.get(ticket.address)
        if same is not None:
            same.pop(ticket, None)
            if not same:
                del self._pending_by_address[ticket.address]

    def _uncount(self, ticket: Ticket) -> None:
        if self.shared is not None:
            self.shared.give_back(ticket.address)
        self._associated[ticket.address] -= 1
        if self._associated[ticket.address] <= 0:
            del self._associated[ticket.address]


@dataclass
class DropLog:
    """Which drops and refusals get a WARNING: the first after a quiet spell (at once,
    so an operator sees trouble start), then one summary per ``interval`` while they go
    on. Every one of them still gets an INFO line from the server, so a flood of a
    thousand connections writes two or three WARNING lines, not a thousand.

    The server calls :meth:`note` for each event and :meth:`summary` every ``interval``
    seconds after a :meth:`note` returned True, until it returns None.
    """

    interval: float = 10.0
    _counts: Counter[str] = field(default_factory=Counter)
    _addresses: Counter[str] = field(default_factory=Counter)
    _open: bool = False  # a WARNING was written and its summary is still to come

    def note(self, reason: str, address: str) -> bool:
        """Count one event; True when it deserves a WARNING of its own (the first after
        a quiet spell), when the caller must also schedule :meth:`summary`."""
        if not self._open:
            self._open = True
            return True
        self._counts[reason] += 1
        self._addresses[address] += 1
        return False

    def summary(self) -> str | None:
        """What happened since the last WARNING, as one line, or None if nothing did (the
        quiet spell has begun: the next :meth:`note` warns again)."""
        if not self._counts:
            self._open = False
            return None
        total = sum(self._counts.values())
        reasons = ", ".join(f"{count} {reason}"
                            for reason, count in self._counts.most_common())
        address, from_address = self._addresses.most_common(1)[0]
        self._counts.clear()
        self._addresses.clear()
        return (f"{total} more connection(s) dropped or refused in the last "
                f"{self.interval:g} s: {reasons}; most from {address} ({from_address})")
