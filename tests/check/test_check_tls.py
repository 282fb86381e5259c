"""``dicomnet check`` over TLS (PS3.15 Annex B): every check's association is a TLS
one, and a peer demanding a user identity gets the one the user gave on each."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import anyio
import pytest

from dicomnet.check import Outcome, Target, UnreachableError, run_checks, select
from dicomnet.pdu import UserIdentityRQSubItem
from dicomnet.server import Server
from dicomnet.tls import TestPKI, client_context, server_context

pytestmark = pytest.mark.anyio
Serving = Callable[..., AbstractAsyncContextManager[int]]


async def test_the_checks_run_over_tls(serving: Serving, pki: TestPKI) -> None:
    server = Server("TLSSCP")
    async with serving(server, ssl=server_context(pki.server_cert, pki.server_key)) as port:
        target = Target("127.0.0.1", port, called_ae="TLSSCP",
                        ssl=client_context(cafile=pki.ca_cert))
        with anyio.fail_after(120):
            verdicts = await run_checks(target, select(["association", "verification"]))
    outcomes = {v.check.id: v.result.outcome for v in verdicts}
    # a Verification-only server: CT storage and C-MOVE are not offered, everything
    # else passes
    assert outcomes.pop("association.transfer-syntaxes-ct") is Outcome.SKIP
    assert outcomes.pop("association.release-collision") is Outcome.SKIP
    assert set(outcomes.values()) == {Outcome.PASS}, outcomes


async def test_a_peer_demanding_an_identity_gets_the_users_on_every_check(
        serving: Serving) -> None:
    seen: list[bytes | None] = []

    async def verify(identity: UserIdentityRQSubItem | None, _association: object) -> bool:
        seen.append(identity.primary_field if identity is not None else None)
        return identity is not None and identity.primary_field == b"alice"

    server = Server("IDSCP", authenticate=verify)

    async with serving(server) as port:
        target = Target("127.0.0.1", port, called_ae="IDSCP",
                        identity=UserIdentityRQSubItem(1, False, b"alice"))
        with anyio.fail_after(120):
            verdicts = await run_checks(target, select(["association", "verification"]))
    outcomes = {v.check.id: v.result.outcome for v in verdicts}
    # a Verification-only server: CT storage and C-MOVE are not offered, everything
    # else passes
    assert outcomes.pop("association.transfer-syntaxes-ct") is Outcome.SKIP
    assert outcomes.pop("association.release-collision") is Outcome.SKIP
    assert set(outcomes.values()) == {Outcome.PASS}, outcomes
    assert seen and set(seen) == {b"alice"}


async def test_tls_to_a_plain_peer_cannot_be_checked(serving: Serving, pki: TestPKI) -> None:
    async with serving(Server("PLAIN")) as port:
        target = Target("127.0.0.1", port, called_ae="PLAIN",
                        ssl=client_context(cafile=pki.ca_cert))
        with anyio.fail_after(60), pytest.raises(UnreachableError):
            await run_checks(target, select(["verification"]))
