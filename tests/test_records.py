"""records.record: frozen slotted dataclasses whose equality, hash and repr are shared
code, behaving as the dataclass ones would."""

from __future__ import annotations

import copy
import dataclasses
import inspect
import pickle
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


def test_init_is_the_frozen_dataclass_one() -> None:
    assert inspect.signature(Point) == inspect.signature(PointDataclass)
    assert str(inspect.signature(Named)) == "(*, name: 'str') -> None"
    with pytest.raises(TypeError):
        Point()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Point(1, 2, (), "note", 5)  # type: ignore[call-arg]


@record()
class WithFactory:
    items: list[int] = field(default_factory=list)
    seen: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "seen", (*self.seen, "post-init"))


def test_default_factories_give_a_new_value_and_post_init_runs() -> None:
    first, second = WithFactory(), WithFactory()
    assert first.items == [] and first.items is not second.items
    assert WithFactory([1]).items == [1]
    assert first.seen == ("post-init",)


def test_records_copy_and_pickle() -> None:
    point = Point(1, 2, ("a",), note="n")
    for twin in (copy.copy(point), copy.deepcopy(point), pickle.loads(pickle.dumps(point))):
        assert twin == point and twin.note == "n"


def test_what_records_do_not_take_fails_when_the_class_is_made() -> None:
    with pytest.raises(TypeError, match="init=False"):
        @record()
        class Hidden:
            x: int = field(init=False, default=0)
    with pytest.raises(TypeError, match="follows default"):
        @record()
        class Misordered:  # the error a dataclass gives too
            x: int = 0
            y: int  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        del Point(1).x


def test_init_is_compiled_when_first_looked_up() -> None:
    """Making a class compiles nothing; its __init__ is compiled the first time it is
    looked up (an instance, inspect.signature, super()), then found directly."""
    @record()
    class Base:
        a: int

    @record()
    class Fresh:
        a: int
        b: str = "b"

    class Derived(Base):
        def __init__(self) -> None:
            super().__init__(7)

    for cls in (Base, Fresh):
        assert not inspect.isfunction(cls.__dict__["__init__"])
    assert str(inspect.signature(Fresh)) == "(a: 'int', b: 'str' = 'b') -> None"
    assert inspect.isfunction(Fresh.__dict__["__init__"])
    assert Fresh(1) == Fresh(1, "b") and Fresh(2).b == "b"
    assert Derived().a == 7  # through super(): Base's __init__ compiled there
    assert inspect.isfunction(Base.__dict__["__init__"])
    assert Base(3).a == 3
