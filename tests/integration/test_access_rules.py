"""Allow-lists that compare parsed values, so that no spelling gets a peer past them:
certificate subjects as X.509 names, addresses as IP addresses (IPv4-mapped, zones),
AE titles without their padding only (PS3.5 §6.2) and case-sensitively.

Unit tests of the decisions, then real associations (TLS, IPv4 and IPv6 sockets, a raw
A-ASSOCIATE-RQ) that show the server applies them.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from pathlib import Path

import pytest
from certificates import client_certificate
from cryptography import x509
from cryptography.x509.oid import NameOID

import dicomnet
from dicomnet.access_rules import address_allowed, parse_networks, parse_subjects, subject_allowed
from dicomnet.acse import AcceptorPolicy, build_request, check_request
from dicomnet.dimse import Status
from dicomnet.errors import AssociationRejectedError
from dicomnet.pdu import AAssociateAC, AAssociateRJ
from dicomnet.server import Server
from dicomnet.testing import RawPeer
from dicomnet.tls import TestPKI, client_context, server_context
from dicomnet.uids import VERIFICATION

Serving = Callable[..., AbstractAsyncContextManager[int]]


def _name(*attributes: tuple[x509.ObjectIdentifier, str]) -> x509.Name:
    return x509.Name([x509.NameAttribute(oid, value) for oid, value in attributes])


CN, ORG = NameOID.COMMON_NAME, NameOID.ORGANIZATION_NAME
MODALITY1 = _name((ORG, "Hospital"), (CN, "modality1"))  # CN=modality1,O=Hospital
SPOOF = _name((ORG, "Hospital"), (CN, "evil,CN=modality1"))  # CN=evil\,CN=modality1,...


# -- certificate subjects ------------------------------------------------------------------


@pytest.mark.parametrize(("rules", "subject", "allowed"), [
    (["CN=modality1"], MODALITY1, True),                      # a part of the subject
    (["CN=modality1,O=Hospital"], MODALITY1, True),           # the whole subject
    (["O=Hospital,CN=modality1"], MODALITY1, True),           # parts, in any order
    (["CN=modality1,O=Elsewhere"], MODALITY1, False),         # one part differs
    (["CN=Modality1"], MODALITY1, False),                     # values are exact
    (["CN=modality"], MODALITY1, False),                      # no substrings
    (["CN=modality1"], SPOOF, False),                         # a comma in a value
    (["CN=evil"], SPOOF, False),
    (["CN=evil\\,CN=modality1"], SPOOF, True),                # that value, escaped
    (["CN=modality1"], _name((CN, "modality1 ")), False),
    (["CN=modality1"], _name((ORG, "modality1")), False),       # the OID counts
    (["CN=modality1"], x509.Name([x509.RelativeDistinguishedName([
        x509.NameAttribute(CN, "modality1"), x509.NameAttribute(ORG, "x")])]), True),
    (["CN=modality1"], None, False),                          # no certificate
])
def test_subject_rules(rules: list[str], subject: x509.Name | None, allowed: bool) -> None:
    assert subject_allowed(subject, parse_subjects(rules)) is allowed


@pytest.mark.parametrize("rule", ["modality1", "", "CN"])
def test_bad_subject_rules_are_refused_when_the_server_is_made(rule: str) -> None:
    with pytest.raises(ValueError, match="certificate subject"):
        Server("SECURE", allowed_certificate_subjects=[rule])


async def _echo(port: int, context: ssl.SSLContext | None, host: str = "127.0.0.1",
                calling_ae: str = "ME") -> None:
    async with dicomnet.connect(host, port, called_ae="SECURE", calling_ae=calling_ae,
                                ssl=context) as assoc:
        assert await assoc.echo() == Status.SUCCESS


async def _refused(port: int, context: ssl.SSLContext | None, host: str = "127.0.0.1",
                   calling_ae: str = "ME") -> tuple[int, int, int]:
    with pytest.raises(AssociationRejectedError) as caught:
        await _echo(port, context, host, calling_ae)
    return caught.value.result, caught.value.source, caught.value.reason


@pytest.mark.anyio
async def test_a_spoofed_common_name_is_refused_over_tls(
        serving: Serving, pki: TestPKI, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    def client(subject: x509.Name) -> ssl.SSLContext:
        cert, key = client_certificate(pki, subject, tmp_path)
        return client_context(cafile=pki.ca_cert, certfile=cert, keyfile=key)

    tls = server_context(pki.server_cert, pki.server_key, cafile=pki.ca_cert)
    spoof, modality1 = client(SPOOF), client(MODALITY1)
    for rule in ("CN=modality1", "CN=modality1,O=Hospital"):
        server = Server("SECURE", allowed_certificate_subjects=[rule])
        async with serving(server, ssl=tls) as port:
            assert await _refused(port, spoof) == (1, 1, 1)
            await _echo(port, modality1)
    assert "client certificate CN=evil\\\\,CN=modality1,O=Hospital is not allowed" \
        in caplog.text
    server = Server("SECURE", allowed_certificate_subjects=["CN=modality1,O=Elsewhere"])
    async with serving(server, ssl=tls) as port:
        assert await _refused(port, modality1) == (1, 1, 1)


# -- addresses --------------------------------------------------------------------------------


@pytest.mark.parametrize(("host", "rules", "allowed"), [
    ("10.1.2.3", ["10.1.0.0/16"], True),
    ("::ffff:10.1.2.3", ["10.1.0.0/16"], True),        # an IPv4 peer on an IPv6 socket
    ("::ffff:10.2.0.1", ["10.1.0.0/16"], False),       # ...is still held to the rule
    ("::ffff:10.2.0.1", ["::/0"], False),              # an IPv6 rule is for IPv6 peers
    ("10.1.2.3", ["::ffff:10.1.2.3"], True),           # a rule in the mapped form
    ("::ffff:10.1.2.3", ["::ffff:10.1.2.3"], True),
    ("10.1.9.9", ["::ffff:10.1.0.0/112"], True),       # = 10.1.0.0/16
    ("10.2.0.1", ["::ffff:10.1.0.0/112"], False),
    ("fe80::1%eth0", ["fe80::/10"], True),             # the zone is not the address
    ("fe80::1%eth0", ["fe80::1%eth1"], True),
    ("fe80::1%eth0", ["10.0.0.0/8"], False),
    ("::1", ["127.0.0.1"], False),
    ("not-an-address", ["0.0.0.0/0"], False),
    ("10.1.2.3", [], False),
])
def test_address_rules(host: str, rules: list[str], allowed: bool) -> None:
    assert address_allowed(host, parse_networks(rules)) is allowed


@pytest.mark.anyio
async def test_address_rules_on_ipv4_and_ipv6_sockets(serving: Serving) -> None:
    for rules, host, ok in (
            (["::ffff:127.0.0.0/104"], "127.0.0.1", True),  # mapped form of 127.0.0.0/8
            (["::1"], "::1", True),
            (["127.0.0.0/8"], "::1", False),
            (["::ffff:127.0.0.1"], "::1", False)):
        server = Server("SECURE", allowed_addresses=rules)
        async with serving(server, host) as port:
            if ok:
                await _echo(port, None, host)
            else:
                assert await _refused(port, None, host) == (1, 1, 1)


# -- AE titles ------------------------------------------------------------------------------


def _verdict(calling: str, called: str = "SECURE", *, allowed: tuple[str, ...] = ("MODALITY1",),
             ae_title: str = "SECURE") -> AAssociateRJ | None:
    request = build_request(calling_ae_title="X", called_ae_title="X",
                            contexts=[(VERIFICATION, ["1.2.840.10008.1.2"])],
                            max_pdu_length=16384)
    request = replace(request, calling_ae_title=calling, called_ae_title=called)
    policy = AcceptorPolicy(ae_title=ae_title, allowed_calling_ae_titles=frozenset(allowed))
    return check_request(request, policy)


@pytest.mark.parametrize(("calling", "ok"), [
    ("MODALITY1", True),
    ("MODALITY1 ", True),        # padding (PS3.5 §6.2)
    ("  MODALITY1", True),
    ("MODALITY1\x00\x00", True),  # C-string padding some peers write
    ("modality1", False),        # case-sensitive
    ("Modality1", False),
    ("MODALITY1\t", False),      # a control character is not padding
    ("\nMODALITY1", False),
    ("MODALITY1\x0b", False),
    ("MODALITY", False),
    ("MODALITY1X", False),
])
def test_calling_ae_title_rules(calling: str, ok: bool) -> None:
    rejection = _verdict(calling)
    assert (rejection is None) is ok
    if not ok:
        assert rejection is not None and (rejection.source, rejection.reason) == (1, 3)


@pytest.mark.parametrize(("called", "ok"), [
    ("SECURE", True), ("SECURE  ", True), (" SECURE", True), ("SECURE\x00", True),
    ("secure", False), ("SECURE\t", False), ("SECURE\r", False)])
def test_called_ae_title_rule(called: str, ok: bool) -> None:
    rejection = _verdict("MODALITY1", called)
    assert (rejection is None) is ok
    if not ok:
        assert rejection is not None and (rejection.source, rejection.reason) == (1, 7)


def test_allowed_titles_are_unpadded_and_checked_when_the_policy_is_made() -> None:
    assert _verdict("MODALITY1", allowed=("  MODALITY1  ",)) is None
    with pytest.raises(ValueError, match="allowed calling AE title"):
        _verdict("MODALITY1", allowed=("MODALITY1\n",))
    with pytest.raises(ValueError, match="not the string"):
        Server("SECURE", allowed_calling_ae_titles="MODALITY1")


@pytest.mark.anyio
async def test_ae_titles_on_the_wire(serving: Serving) -> None:
    """Raw A-ASSOCIATE-RQs whose 16-byte title fields hold padding or control bytes."""
    server = Server("SECURE", allowed_calling_ae_titles=["MODALITY1"])
    request = build_request(calling_ae_title="X", called_ae_title="SECURE",
                            contexts=[(VERIFICATION, ["1.2.840.10008.1.2"])],
                            max_pdu_length=16384)
    async with serving(server) as port:
        for calling, accepted in (("MODALITY1", True), ("  MODALITY1\x00\x00", True),
                                  ("MODALITY1\t", False), ("modality1", False)):
            async with RawPeer("127.0.0.1", port) as peer:
                await peer.send(replace(request, calling_ae_title=calling))
                answer = await peer.receive_pdu()
                assert isinstance(answer, AAssociateAC if accepted else AAssociateRJ), \
                    (calling, answer)
        await _echo(port, None, calling_ae="MODALITY1")  # still serving
