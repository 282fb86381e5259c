"""Frozen records: the immutable value classes of dicomnet (PDUs and their items, DIMSE
messages, state machine outputs, ...), dataclasses that share one ``__eq__``,
``__hash__`` and ``__repr__``.

Why not plain ``@dataclass(frozen=True, slots=True)``: on Python 3.11 a dataclass
compiles each method it generates with a separate ``exec``, six per frozen class, and
the ~70 classes of dicomnet made that ~40 ms of every ``dicomnet`` command's start-up
(a twentieth of sending 500 images). Equality, hashing and repr are the same code for
every record, so they are written once here; only ``__init__``, ``__setattr__`` and
``__delattr__`` are still generated per class. Behaviour is the dataclass one: equal
when of the same class with equal fields, hash of the fields, ``Name(field=value, ...)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar, cast, dataclass_transform

__all__ = ["record"]

_T = TypeVar("_T")


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def record(*, kw_only: bool = False) -> Callable[[type[_T]], type[_T]]:
    """Make ``cls`` a frozen, slotted dataclass with the shared methods of a record.

    A method the class defines itself (a shorter ``__repr__``, say) is kept.
    """
    def make(cls: type[_T]) -> type[_T]:
        made: Any = dataclass(frozen=True, slots=True, kw_only=kw_only, eq=False,
                              repr=False)(cls)
        made._compared = tuple(f.name for f in fields(made) if f.compare)
        made._shown = tuple(f.name for f in fields(made) if f.repr)
        for name, method in (("__eq__", _eq), ("__hash__", _hash), ("__repr__", _repr)):
            if name not in cls.__dict__:
                setattr(made, name, method)
        return cast("type[_T]", made)
    return make


def _values(self: Any) -> tuple[Any, ...]:
    return tuple(getattr(self, name) for name in self._compared)


def _eq(self: Any, other: object) -> Any:
    if other.__class__ is not self.__class__:
        return NotImplemented
    return _values(self) == _values(other)


def _hash(self: Any) -> int:
    return hash(_values(self))


def _repr(self: Any) -> str:
    shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._shown)
    return f"{self.__class__.__qualname__}({shown})"
