"""The admission books without sockets: who is pending, who is associated, who goes."""

from __future__ import annotations

from dicomnet.admission import (
    ASSOCIATION_ADDRESS_LIMIT,
    ASSOCIATION_LIMIT,
    EVICTED,
    EVICTED_ADDRESS,
    Admission,
    DropLog,
    address_key,
)


def test_pending_connections_do_not_count_as_associations() -> None:
    books = Admission(max_pending=100, max_pending_per_address=None, max_associations=2)
    silent = [books.arrive("10.0.0.1", t)[0] for t in range(50)]
    assert (books.pending, books.associated) == (50, 0)
    real, _ = books.arrive("10.0.0.2", 50)
    assert books.request_complete(real) is None
    assert (books.pending, books.associated) == (50, 1)
    assert silent[0].phase == "pending" and real.phase == "associated"


def test_the_association_limit_counts_whole_requests_only() -> None:
    books = Admission(max_pending=10, max_associations=2)
    first, second, third = (books.arrive("10.0.0.1", t)[0] for t in range(3))
    assert books.request_complete(first) is None
    assert books.request_complete(second) is None
    assert books.request_complete(third) == ASSOCIATION_LIMIT
    assert third.phase == "pending"  # refused: pending again while it closes
    books.leave(first)
    fourth, _ = books.arrive("10.0.0.1", 4)
    assert books.request_complete(fourth) is None


def test_per_address_association_limit() -> None:
    books = Admission(max_associations=10, max_associations_per_address=1)
    a1, a2 = books.arrive("10.0.0.1", 0)[0], books.arrive("10.0.0.1", 1)[0]
    b1 = books.arrive("10.0.0.2", 2)[0]
    assert books.request_complete(a1) is None
    assert books.request_complete(a2) == ASSOCIATION_ADDRESS_LIMIT
    assert books.request_complete(b1) is None


def test_at_the_bound_the_oldest_pending_connection_goes() -> None:
    books = Admission(max_pending=3, max_pending_per_address=None)
    tickets = [books.arrive(f"10.0.0.{n}", n)[0] for n in range(3)]
    newcomer, eviction = books.arrive("10.0.0.9", 3)
    assert eviction == (tickets[0], EVICTED)
    assert tickets[0].phase == "gone" and tickets[0].cut_reason == EVICTED
    assert books.pending == 3
    assert books.oldest_pending() == [tickets[1], tickets[2], newcomer]
    # A connection cut meanwhile cannot become an association afterwards.
    assert books.request_complete(tickets[0]) == EVICTED


def test_an_associated_connection_is_never_evicted() -> None:
    books = Admission(max_pending=2, max_pending_per_address=None)
    real = books.arrive("10.0.0.1", 0)[0]
    assert books.request_complete(real) is None
    evicted = [books.arrive("10.0.0.2", t)[1] for t in range(1, 20)]
    assert all(e is None or e[0] is not real for e in evicted)
    assert real.phase == "associated" and books.pending == 2


def test_one_address_at_its_bound_evicts_its_own_oldest() -> None:
    books = Admission(max_pending=10, max_pending_per_address=2)
    other = books.arrive("10.0.0.2", 0)[0]
    first, second = books.arrive("10.0.0.1", 1)[0], books.arrive("10.0.0.1", 2)[0]
    third, eviction = books.arrive("10.0.0.1", 3)
    assert eviction == (first, EVICTED_ADDRESS)
    assert books.oldest_pending() == [other, second, third]
    assert books.pending_from("10.0.0.1") == 2


def test_a_rejected_association_is_pending_again_and_goes_first() -> None:
    books = Admission(max_pending=2, max_pending_per_address=None)
    waiting = books.arrive("10.0.0.1", 0)[0]
    refused = books.arrive("10.0.0.2", 1)[0]
    assert books.request_complete(refused) is None
    assert books.rejected(refused) is None
    assert books.oldest_pending() == [refused, waiting]
    assert books.associated == 0
    _, eviction = books.arrive("10.0.0.3", 2)
    assert eviction is not None and eviction[0] is refused


def test_leaving_forgets_in_every_phase() -> None:
    books = Admission()
    pending, associated = books.arrive("10.0.0.1", 0)[0], books.arrive("10.0.0.1", 1)[0]
    assert books.request_complete(associated) is None
    books.leave(pending)
    books.leave(associated)
    books.leave(associated)  # twice is harmless
    assert (books.pending, books.associated, books.pending_from("10.0.0.1")) == (0, 0, 0)


def test_addresses_count_ipv6_by_64_prefix() -> None:
    assert address_key("10.1.2.3") == "10.1.2.3"
    assert address_key("::ffff:10.1.2.3") == "10.1.2.3"
    assert address_key("2001:db8:1:2:aaaa::1") == address_key("2001:db8:1:2::ffff") \
        == "2001:db8:1:2::/64"
    assert address_key("fe80::1%eth0") == "fe80::/64"
    assert address_key("not an address") == "not an address"


def test_the_drop_log_warns_once_then_summarises() -> None:
    drops = DropLog(interval=10)
    warnings = [drops.note(EVICTED, "10.0.0.1") for _ in range(1000)]
    assert warnings.count(True) == 1 and warnings[0]
    summary = drops.summary()
    assert summary is not None and "999 more" in summary and "10.0.0.1 (999)" in summary
    assert not drops.note(EVICTED, "10.0.0.1")  # still within the flood: no new warning
    assert drops.summary() is not None
    assert drops.summary() is None  # a quiet interval ends the flood...
    assert drops.note(EVICTED, "10.0.0.1")  # ...and the next drop warns again
