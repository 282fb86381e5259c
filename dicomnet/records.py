"""Frozen records: the immutable value classes of dicomnet (PDUs and their items, DIMSE
messages, state machine outputs, ...), dataclasses whose generated code is kept small.

Why not plain ``@dataclass(frozen=True, slots=True)``: on Python 3.11 a dataclass
compiles each method it generates with a separate ``exec``, six per frozen class
(``__init__``, ``__repr__``, ``__eq__``, ``__hash__``, ``__setattr__``,
``__delattr__``); over all the record classes of dicomnet that was a noticeable part of
every ``dicomnet`` command's start-up (the performance page of the documentation has
the figures). All but ``__init__`` are the same code for every record, so they are
written once here, and ``__init__`` is compiled per class, when the class is first
used. What a user sees is
the frozen dataclass: :func:`dataclasses.fields`, :func:`dataclasses.replace`,
keyword-only fields, defaults and default factories, ``FrozenInstanceError`` on
assignment, equality and hash over the compared fields of objects of the same class,
``Name(field=value)`` reprs, pickling. A method the class writes itself (a
``__repr__`` that hides a passcode, say) is kept.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import MISSING, Field, FrozenInstanceError, dataclass, field, fields
from typing import Any, TypeVar, cast, dataclass_transform

__all__ = ["record"]

_T = TypeVar("_T")


class _Factory:
    """Default of a parameter whose field has a default factory."""

    def __repr__(self) -> str:
        return "<factory>"


_FACTORY = _Factory()


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def record(*, kw_only: bool = False) -> Callable[[type[_T]], type[_T]]:
    """Make the decorated class a frozen, slotted dataclass (see the module's doc)."""
    def make(cls: type[_T]) -> type[_T]:
        # Not frozen to dataclass, which then generates nothing: the frozen behaviour
        # comes from the shared __setattr__ below and the __init__ made here.
        made: Any = dataclass(init=False, repr=False, eq=False, slots=True,
                              kw_only=kw_only)(cls)
        all_fields = fields(made)
        made._compared = tuple(f.name for f in all_fields if f.compare)
        made._shown = tuple(f.name for f in all_fields if f.repr)
        shared = {"__init__": _LazyInit(made, all_fields),
                  "__setattr__": _setattr, "__delattr__": _delattr, "__eq__": _eq,
                  "__hash__": _hash, "__repr__": _repr, "__getstate__": _getstate,
                  "__setstate__": _setstate}
        for name, method in shared.items():
            if name not in cls.__dict__:
                setattr(made, name, method)
        return cast("type[_T]", made)
    return make


class _LazyInit:
    """A record's ``__init__`` until first used: the source is checked and written when
    the class is made, and compiled the first time the class's ``__init__`` is looked
    up, for an instance, ``inspect.signature`` or ``super()``, which then finds the
    compiled function in its place. A command uses a fraction of the record classes,
    so compiling them all at import would be start-up time spent for nothing."""

    def __init__(self, cls: type, all_fields: tuple[Field[Any], ...]) -> None:
        self.cls = cls
        self.all_fields = all_fields
        self.source, self.namespace = _init_source(cls, all_fields)

    def __get__(self, instance: object, owner: type | None = None) -> Any:
        init = _compile_init(self.cls, self.all_fields, self.source, self.namespace)
        type.__setattr__(self.cls, "__init__", init)
        return init.__get__(instance, owner)


def _init_source(cls: type, all_fields: tuple[Field[Any], ...]
                 ) -> tuple[str, dict[str, Any]]:
    """The source of the class's ``__init__``, the one a frozen dataclass would have,
    and the names it uses."""
    # Helper names no field would take, as a parameter would shadow them.
    namespace: dict[str, Any] = {"__record_set": object.__setattr__,
                                 "__record_factory": _FACTORY}
    positional: list[str] = []
    keyword: list[str] = []
    body: list[str] = []
    for f in all_fields:
        if not f.init:
            raise TypeError(f"{cls.__name__}.{f.name}: records take every field in "
                            "__init__ (init=False is not supported)")
        parameter = f.name
        if f.default is not MISSING:
            namespace[f"__record_default_{f.name}"] = f.default
            parameter += f"=__record_default_{f.name}"
        elif f.default_factory is not MISSING:
            namespace[f"__record_factory_{f.name}"] = f.default_factory
            parameter += "=__record_factory"
            body.append(f"  if {f.name} is __record_factory: "
                        f"{f.name} = __record_factory_{f.name}()")
        elif positional and "=" in positional[-1] and not f.kw_only:
            raise TypeError(f"non-default argument {f.name!r} follows default argument")
        (keyword if f.kw_only else positional).append(parameter)
        body.append(f"  __record_set(self, {f.name!r}, {f.name})")
    if hasattr(cls, "__post_init__"):
        body.append("  self.__post_init__()")
    parameters = ", ".join(["self", *positional, *(["*", *keyword] if keyword else [])])
    return f"def __init__({parameters}):\n" + ("\n".join(body) or "  pass") + "\n", namespace


def _compile_init(cls: type, all_fields: tuple[Field[Any], ...], source: str,
                  namespace: dict[str, Any]) -> Callable[..., None]:
    exec(source, namespace)  # our own text, made of the field names
    init = cast("Callable[..., None]", namespace["__init__"])
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__annotations__ = {**{f.name: f.type for f in all_fields}, "return": None}
    return init


def _setattr(self: Any, name: str, value: object) -> None:
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def _delattr(self: Any, name: str) -> None:
    raise FrozenInstanceError(f"cannot delete field {name!r}")


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


def _getstate(self: Any) -> list[Any]:
    return [getattr(self, f.name) for f in fields(self)]


def _setstate(self: Any, state: list[Any]) -> None:
    for f, value in zip(fields(self), state, strict=True):
        object.__setattr__(self, f.name, value)
