"""Message ID allocation (PS3.7 §9.1.1.1.1: unique among outstanding requests; US)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dicomnet.dimse import MessageIDs


def test_starts_at_one_and_counts_up() -> None:
    ids = MessageIDs()
    assert [ids.allocate() for _ in range(5)] == [1, 2, 3, 4, 5]
    assert ids.outstanding == frozenset({1, 2, 3, 4, 5})


def test_released_ids_are_not_reused_before_wraparound() -> None:
    ids = MessageIDs()
    first = ids.allocate()
    ids.release(first)
    assert ids.allocate() == 2
    assert ids.outstanding == frozenset({2})


def test_all_65535_values_then_wraps_to_one_never_zero() -> None:
    ids = MessageIDs()
    seen = []
    for _ in range(0xFFFF):
        message_id = ids.allocate()
        seen.append(message_id)
        ids.release(message_id)
    assert seen == list(range(1, 0x10000))
    assert ids.allocate() == 1  # wraps around past 65535, skipping 0
    assert ids.allocate() == 2


def test_wraparound_skips_outstanding_ids() -> None:
    ids = MessageIDs()
    keep = {ids.allocate() for _ in range(3)}  # 1, 2, 3 stay outstanding
    for _ in range(0xFFFF - 3):  # 4 .. 65535
        ids.release(ids.allocate())
    assert ids.allocate() == 4  # 1, 2 and 3 are still in use
    ids.release(2)
    for _ in range(0xFFFF - 4):  # 5 .. 65535, then wrap
        ids.release(ids.allocate())
    assert ids.allocate() == 2
    assert ids.outstanding == frozenset(keep | {4})


def test_exhaustion_and_recovery() -> None:
    ids = MessageIDs()
    for _ in range(0xFFFF):
        ids.allocate()
    assert len(ids.outstanding) == 0xFFFF
    with pytest.raises(RuntimeError, match="65535"):
        ids.allocate()
    ids.release(40000)
    assert ids.allocate() == 40000
    with pytest.raises(RuntimeError):
        ids.allocate()


def test_release_of_unknown_id_is_harmless() -> None:
    ids = MessageIDs()
    ids.release(17)
    ids.release(0)
    assert ids.allocate() == 1
    ids.release(1)
    ids.release(1)
    assert ids.outstanding == frozenset()


def test_outstanding_is_a_snapshot() -> None:
    ids = MessageIDs()
    ids.allocate()
    snapshot = ids.outstanding
    ids.allocate()
    assert snapshot == frozenset({1})
    assert isinstance(snapshot, frozenset)


@settings(max_examples=200, deadline=None)
@given(ops=st.lists(st.one_of(st.just("allocate"), st.integers(0, 30)), max_size=80))
def test_allocated_ids_are_unique_among_outstanding(ops: list[str | int]) -> None:
    ids = MessageIDs()
    model: set[int] = set()
    allocated: list[int] = []
    for op in ops:
        if op == "allocate":
            message_id = ids.allocate()
            assert 1 <= message_id <= 0xFFFF
            assert message_id not in model
            if allocated:  # strictly increasing while no wraparound happens
                assert message_id > allocated[-1]
            model.add(message_id)
            allocated.append(message_id)
        else:
            assert isinstance(op, int)
            if allocated:
                victim = allocated[op % len(allocated)]
                ids.release(victim)
                model.discard(victim)
        assert ids.outstanding == model
