"""Where the association's reader puts the one response to a request that has one.

A C-ECHO, a C-STORE and the DIMSE-N requests have one response (PS3.7 §9.3, §10.3);
waiting for it needs neither a memory object stream nor a generator, only an event
and a place for the response: the part of a stream's interface the reader uses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio

if TYPE_CHECKING:
    from dicomnet.connection_events import Response

__all__ = ["OneResponse"]


class OneResponse:
    """Where the reader puts the response to a request that has one: the part of a
    memory object stream that it uses, for one response."""

    __slots__ = ("arrived", "response")

    def __init__(self) -> None:
        self.arrived = anyio.Event()
        self.response: Response | None = None

    def send_nowait(self, response: Response) -> None:
        if self.response is None and not self.arrived.is_set():
            self.response = response
            self.arrived.set()

    async def send(self, response: Response) -> None:  # never blocks
        self.send_nowait(response)

    def close(self) -> None:
        """The association ended: wake the requester with no response."""
        self.arrived.set()
