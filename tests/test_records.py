"""records.record: frozen slotted dataclasses whose equality, hash and repr are shared
code, behaving as the dataclass ones would."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import pytest

from dicomnet.dimse import CEchoRQ, CStoreRQ
from dicomnet.pdu import AAbort, UserIdentityRQSubItem
from dicomnet.records import record


@record()
class Point:
    x: int
    y: int = 0
    tags: tuple[str, ...] = ()
    note: str = field(default="", compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class PointDataclass:
    x: int
    y: int = 0
    tags: tuple[str, ...] = ()
    note: str = field(default="", compare=False, repr=False)


@record(kw_only=True)
class Named:
    name: str


def test_equality_hash_and_repr_are_the_dataclass_ones() -> None:
    a, b = Point(1, 2, ("t",), note="a"), Point(1, 2, ("t",), note="b")
    assert a == b and hash(a) == hash(b)  # note is not compared
    assert a != Point(1, 3) and Point(1) == Point(1, 0)
    assert repr(a) == repr(PointDataclass(1, 2, ("t",), note="a")).replace(
        "PointDataclass", "Point")
    assert hash(a) == hash(PointDataclass(1, 2, ("t",)))
    twin: object = PointDataclass(1, 2, ("t",))
    assert a != twin  # another class is never equal, fields alike or not
    assert a.__eq__(PointDataclass(1, 2)) is NotImplemented
    assert {a: "found"}[b] == "found"


def test_a_record_is_frozen_and_slotted() -> None:
    point = Point(1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        point.x = 2  # type: ignore[misc]
    assert not hasattr(point, "__dict__")
    assert dataclasses.replace(point, y=5) == Point(1, 5)
    assert [f.name for f in dataclasses.fields(Point)] == ["x", "y", "tags", "note"]


def test_keyword_only_records_take_no_positional_arguments() -> None:
    assert Named(name="a") == Named(name="a")
    with pytest.raises(TypeError):
        Named("a")  # type: ignore[call-arg]


def test_records_share_the_methods_instead_of_compiling_their_own() -> None:
    assert CEchoRQ.__eq__ is CStoreRQ.__eq__ is AAbort.__eq__
    assert CEchoRQ.__repr__ is CStoreRQ.__repr__
    assert CEchoRQ.__hash__ is AAbort.__hash__


def test_a_repr_the_class_writes_itself_is_kept() -> None:
    item = UserIdentityRQSubItem(identity_type=2, positive_response_requested=False,
                                 primary_field=b"alice",
                                 secondary_field=b"secret")
    assert UserIdentityRQSubItem.__repr__ is not CEchoRQ.__repr__
    assert "secret" not in repr(item)
