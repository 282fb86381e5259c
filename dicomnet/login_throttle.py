"""Slowing down repeated failed logins, per peer address and per username.

A peer guessing passcodes gets its answers later and later: after ``n`` consecutive
failures of a key (a username, or the network a peer's address is in), the next
attempt with that key waits ``base * 2 ** (n - 1)`` seconds, at most ``cap``, before
its passcode is even checked, whatever the outcome: a guesser cannot hang up early and
learn from the missing answer. A key that stays quiet for ``forget_after`` seconds
starts afresh, and the table holds at most ``max_keys`` keys (the least recently
failed are forgotten first), so a flood of made-up usernames costs bounded memory.

It is a brake, not a lock: the delay is capped, so a flood aimed at a user's name
slows that user down without locking them out. A success clears the username's count;
the address's count only fades with time, so knowing one account does not reset the
brake on guessing another from the same place.

Pure bookkeeping: the caller passes the time and does the waiting (on its event loop,
without holding anything another login needs).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass

from dicomnet.access_rules import peer_group

__all__ = ["LoginThrottle", "address_key", "username_key"]


def username_key(name: bytes) -> bytes:
    """A short fixed-size key for a username: a peer may send 64 KiB of name, and the
    table must not keep it."""
    return b"u" + hashlib.blake2b(name, digest_size=16).digest()


def address_key(host: str) -> bytes:
    """The key of a peer's address: the group per-address bounds count by
    (:func:`dicomnet.access_rules.peer_group`: an IPv4 address, or an IPv6 /64)."""
    return b"a" + peer_group(host).encode("utf-8", "replace")


@dataclass
class _Failures:
    count: int
    last: float


class LoginThrottle:
    """Consecutive failures per key and the delay they earn (see the module text)."""

    def __init__(self, *, base: float = 0.25, cap: float = 4.0,
                 forget_after: float = 600.0, max_keys: int = 4096) -> None:
        if base < 0 or cap < base or forget_after <= 0 or max_keys < 1:
            raise ValueError("need 0 <= base <= cap, forget_after > 0, max_keys >= 1")
        self.base, self.cap = base, cap
        self.forget_after, self.max_keys = forget_after, max_keys
        self._failures: OrderedDict[bytes, _Failures] = OrderedDict()

    def __len__(self) -> int:
        return len(self._failures)

    def delay(self, keys: tuple[bytes, ...], now: float) -> float:
        """Seconds the next attempt with ``keys`` waits before it is checked."""
        worst = 0
        for key in keys:
            entry = self._failures.get(key)
            if entry is not None and now - entry.last < self.forget_after:
                worst = max(worst, entry.count)
        return self.delay_after(worst)

    def delay_after(self, failures: int) -> float:
        """The wait that ``failures`` consecutive failures earn."""
        if failures <= 0:
            return 0.0
        # Beyond 64 doublings the cap has long been reached; keep the power small.
        return min(self.cap, self.base * 2.0 ** min(failures - 1, 64))

    def failed(self, keys: tuple[bytes, ...], now: float) -> None:
        for key in keys:
            entry = self._failures.pop(key, None)
            if entry is None or now - entry.last >= self.forget_after:
                entry = _Failures(0, now)
            entry.count += 1
            entry.last = now
            self._failures[key] = entry  # now the most recent
        while len(self._failures) > self.max_keys:
            self._failures.popitem(last=False)

    def succeeded(self, key: bytes) -> None:
        self._failures.pop(key, None)
