"""User Identity Negotiation (PS3.7 D.3.3.7): what a client sends, what a server checks.

Client side: :func:`username`, :func:`kerberos`, :func:`saml` and :func:`jwt` build the
sub-item to pass as ``connect(..., user_identity=...)``. After the association is
accepted, ``assoc.negotiated.user_identity_response`` holds the server's response when
one was requested and sent.

Server side: ``Server(authenticate=...)`` takes an :data:`Authenticator`, an async
function called with the identity the requestor sent (None if it sent none) and the
association being negotiated. It returns False to reject the association, True to
accept it, or bytes to accept with that server response (sent only when the requestor
asked for a positive response, PS3.7 D.3.3.7.2). :class:`PasscodeFile` is a ready-made
authenticator for username + passcode pairs stored hashed (scrypt) in a text file.

Passcodes and tokens never appear in logs: the sub-item's repr hides them.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import logging
import os
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

import anyio.to_thread

from dicomnet.login_throttle import LoginThrottle, address_key, username_key
from dicomnet.logtext import peer_text
from dicomnet.pdu import UserIdentityRQSubItem
from dicomnet.pdu.constants import UserIdentityType

if TYPE_CHECKING:
    from dicomnet.association import AssociationDriver

__all__ = [
    "Authenticator",
    "PasscodeFile",
    "UserIdentityType",
    "hash_passcode",
    "jwt",
    "kerberos",
    "saml",
    "username",
    "verify_passcode",
]

log = logging.getLogger("dicomnet.server")

#: ``async def authenticate(identity, association) -> bool | bytes``; see the module text.
Authenticator = Callable[[UserIdentityRQSubItem | None, "AssociationDriver"],
                         Awaitable[bool | bytes]]


def _text(value: str | bytes) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else value


def username(name: str, passcode: str | None = None, *,
             positive_response: bool = False) -> UserIdentityRQSubItem:
    """Identity type 1 (username) or 2 (username and passcode), UTF-8 encoded."""
    if not name:
        raise ValueError("the username must not be empty (PS3.7 D.3.3.7.1)")
    if passcode is None:
        return UserIdentityRQSubItem(UserIdentityType.USERNAME, positive_response,
                                     _text(name))
    return UserIdentityRQSubItem(UserIdentityType.USERNAME_AND_PASSCODE, positive_response,
                                 _text(name), _text(passcode))


def kerberos(ticket: bytes, *, positive_response: bool = False) -> UserIdentityRQSubItem:
    """Identity type 3: a Kerberos service ticket (the server may answer with the
    Kerberos server ticket)."""
    return UserIdentityRQSubItem(UserIdentityType.KERBEROS, positive_response, ticket)


def saml(assertion: str | bytes, *, positive_response: bool = False) -> UserIdentityRQSubItem:
    """Identity type 4: a SAML assertion."""
    return UserIdentityRQSubItem(UserIdentityType.SAML, positive_response, _text(assertion))


def jwt(token: str | bytes, *, positive_response: bool = False) -> UserIdentityRQSubItem:
    """Identity type 5: a JSON Web Token."""
    return UserIdentityRQSubItem(UserIdentityType.JWT, positive_response, _text(token))


# -- stored passcodes ---------------------------------------------------------------------

# scrypt parameters (RFC 7914): 128 * r * N bytes (16 MiB) of memory per check and the
# time that takes, so a stolen file is slow to brute-force while an association still
# opens promptly.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 1 << 14, 8, 1


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_passcode(passcode: str) -> str:
    """``scrypt$N$r$p$salt$hash``: a salted, slow hash of ``passcode`` for a passcode
    file; the passcode itself is never stored."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(passcode.encode("utf-8"), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R,
                            p=_SCRYPT_P, dklen=32)
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_passcode(passcode: bytes, stored: str) -> bool:
    """Whether ``passcode`` matches a :func:`hash_passcode` string (constant time)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(passcode, salt=base64.b64decode(salt), n=int(n), r=int(r),
                                p=int(p), dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


class PasscodeFile:
    """Username + passcode pairs in a text file, one ``name:scrypt$...`` line each
    (``#`` starts a comment); written by ``dicomnet user add FILE NAME``.

    Used as ``Server(authenticate=PasscodeFile(path))``: only identity type 2 with a
    known name and the right passcode is accepted; no identity, other types and wrong
    passcodes are rejected. The file is read once, when the object is made.

    Each check costs scrypt's memory and time in a worker thread, so at most
    ``max_checks`` run at once (the others wait their turn): the memory a flood of
    attempts can take is that of ``max_checks`` checks, not of one per connection
    (threads keep the memory they freed for their next use, so it is the number of
    threads ever hashing at once that the process keeps). Repeated failures from one
    address or for one username are slowed down by ``throttle`` (see
    :mod:`dicomnet.login_throttle`); the wait holds no check slot and blocks nobody
    else.
    """

    def __init__(self, path: str | os.PathLike[str], *, max_checks: int = 2,
                 throttle: LoginThrottle | None = None) -> None:
        if max_checks < 1:
            raise ValueError("max_checks must be at least 1")
        self.path = Path(path)
        self.entries = read_passcode_file(self.path)
        self.max_checks = max_checks
        self.throttle = LoginThrottle() if throttle is None else throttle
        self._limiter: anyio.CapacityLimiter | None = None

    async def __call__(self, identity: UserIdentityRQSubItem | None,
                       association: AssociationDriver) -> bool | bytes:
        if identity is None or identity.identity_type != UserIdentityType.USERNAME_AND_PASSCODE:
            log.warning("%r: user identity %s refused: a username and passcode are required",
                        association, "missing" if identity is None
                        else _type_name(identity.identity_type))
            return False
        name = identity.primary_field.decode("utf-8", "replace")
        stored = self.entries.get(name)
        keys = (username_key(identity.primary_field),
                address_key((association.peer or ("?", 0))[0]))
        delay = self.throttle.delay(keys, anyio.current_time())
        if delay > 0:
            # Before the check, whatever its outcome: see dicomnet.login_throttle.
            await anyio.sleep(delay)
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self.max_checks)
        # Hash even for unknown names, so timing does not tell which names exist.
        ok = await anyio.to_thread.run_sync(
            verify_passcode, identity.secondary_field, stored or _dummy_hash(),
            limiter=self._limiter)
        if not (ok and stored):
            self.throttle.failed(keys, anyio.current_time())
            log.warning("%r: user %s refused: unknown user or wrong passcode%s",
                        association, peer_text(name),
                        f" (answered after {delay:.2g} s: earlier failures)" if delay else "")
            return False
        self.throttle.succeeded(keys[0])
        log.info("%r: user %s authenticated", association, peer_text(name))
        # PS3.7 D.3.3.7.2: for types 1 and 2 a positive response carries no data.
        return b""


def _type_name(identity_type: int) -> str:
    try:
        return UserIdentityType(identity_type).name
    except ValueError:
        return f"type {identity_type}"


@functools.cache
def _dummy_hash() -> str:
    return hash_passcode(secrets.token_hex(8))


def read_passcode_file(path: Path) -> dict[str, str]:
    """Name -> stored hash; a malformed line is an error naming its line number."""
    entries: dict[str, str] = {}
    for number, raw in enumerate(path.read_text("utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, stored = line.partition(":")
        if not sep or not name or not stored.startswith("scrypt$"):
            raise ValueError(f"{path}:{number}: expected 'name:scrypt$...'")
        entries[name] = stored
    return entries


def add_to_passcode_file(path: Path, name: str, passcode: str) -> None:
    """Add ``name`` (or replace its passcode); the file is rewritten atomically and
    kept readable by its owner only."""
    if not name or ":" in name or "\n" in name:
        raise ValueError("a username must be non-empty and hold no ':' or newline")
    entries = read_passcode_file(path) if path.exists() else {}
    entries[name] = hash_passcode(passcode)
    text = "".join(f"{n}:{h}\n" for n, h in entries.items())
    temporary = path.with_name(path.name + ".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(temporary, path)
