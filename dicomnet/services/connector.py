"""How a service opens an association of its own, without importing the client.

Some services must open a new association while they answer one: C-MOVE sends its
C-STORE sub-operations on an association to the move destination (PS3.4 C.4.2), and a
storage commitment SCP whose requestor has gone reports on a new association to it
(PS3.4 J.3.3). The services sit below the client and the server, so they are handed the
function that opens it, :func:`dicomnet.connect` or anything of its shape (a test's
stand-in, a connect with TLS or other defaults bound in): :class:`Connect` is that shape,
as far as the services use it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from dicomnet.association import AssociationDriver
    from dicomnet.config import Timeouts

__all__ = ["Connect"]


class Connect(Protocol):
    """Opens an association and releases it at the end of the ``async with`` block:
    the part of :func:`dicomnet.connect`'s signature the services call."""

    def __call__(self, host: str, port: int, *, called_ae: str = ..., calling_ae: str = ...,
                 contexts: Sequence[str | tuple[str, Sequence[str]]] | None = ...,
                 timeouts: Timeouts | None = ...,
                 roles: Mapping[str, tuple[bool, bool]] | None = ...,
                 ) -> AbstractAsyncContextManager[AssociationDriver]: ...
