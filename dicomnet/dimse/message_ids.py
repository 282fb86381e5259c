"""Message IDs for our requests (PS3.7 §9.1.1.1.1: unique among outstanding requests)."""

from __future__ import annotations

__all__ = ["MessageIDs"]

_LAST_ID = 0xFFFF  # Message ID is US: 1..65535 (0 is avoided; some peers treat it as unset)


class MessageIDs:
    """Hands out 1, 2, ... 65535, 1, ... skipping IDs whose requests are still open."""

    def __init__(self) -> None:
        self._next = 1
        self._outstanding: set[int] = set()

    def allocate(self) -> int:
        if len(self._outstanding) >= _LAST_ID:
            raise RuntimeError("all 65535 Message IDs are outstanding")
        while True:
            candidate = self._next
            self._next = 1 if candidate == _LAST_ID else candidate + 1
            if candidate not in self._outstanding:
                self._outstanding.add(candidate)
                return candidate

    def claim(self, message_id: int) -> None:
        """Count ``message_id``, chosen by the caller, as outstanding (never handed out
        until released)."""
        self._outstanding.add(message_id)

    def release(self, message_id: int) -> None:
        self._outstanding.discard(message_id)

    @property
    def outstanding(self) -> frozenset[int]:
        return frozenset(self._outstanding)
