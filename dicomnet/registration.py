"""One shape for every ``Server.on_*`` registration: a decorator factory.

Every registration is called first with its options (keyword-only), and what it returns
decorates the handler: ``@server.on_echo()``, ``@server.on_store(inline=True)``,
``server.on_move(destinations=lookup)(retrieve)``. One shape for all of them means one
thing to remember; and the shape that used to be right for some, ``@server.on_echo``
without parentheses, hands the handler to the factory as its first positional argument.
Left alone, that would bind the handler's name to a decorator and register nothing,
silently. :func:`factory_only` turns it into a TypeError at registration time that
shows the right spelling.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Concatenate, ParamSpec, TypeVar

__all__ = ["factory_only"]

_S = TypeVar("_S")
_P = ParamSpec("_P")
_R = TypeVar("_R")


def factory_only(spelling: str, *, positional: int = 0
                 ) -> Callable[[Callable[Concatenate[_S, _P], _R]],
                               Callable[Concatenate[_S, _P], _R]]:
    """Make a registration method refuse to be used as a bare decorator.

    ``spelling`` is the right way to write it (``"@server.on_echo()"``), shown in the
    error; ``positional`` is how many positional arguments the method takes (the SOP
    class and operation of ``on_normalized``). A function among the positional
    arguments, or more of them than that, is the handler given in the wrong place.
    """

    def wrap(method: Callable[Concatenate[_S, _P], _R]) -> Callable[Concatenate[_S, _P], _R]:
        @functools.wraps(method)
        def checked(self: _S, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
            given: tuple[object, ...] = args
            handler = next(filter(callable, given), None)
            if handler is not None or len(given) > positional:
                raise TypeError(_misuse(method.__name__, spelling, handler, kwargs))
            return method(self, *args, **kwargs)

        return checked

    return wrap


def _misuse(name: str, spelling: str, handler: object,
            options: dict[str, object]) -> str:
    """The error for a handler passed to the factory instead of to what it returns."""
    got = "an extra positional argument" if handler is None else \
        f"the handler {getattr(handler, '__qualname__', type(handler).__name__)!r}"
    call = spelling.removeprefix("@")
    if options:  # the options the caller gave, in the right place
        head = call.split("(", 1)[0]
        call = f"{head}({', '.join(f'{key}=...' for key in options)})"
    return (f"Server.{name} is a decorator factory and got {got} as a positional "
            f"argument: write {spelling} above the handler (with the parentheses), or "
            f"{call}(handler) to register it without a decorator")
