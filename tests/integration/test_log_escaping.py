"""Peer-supplied text reaches the log escaped and cut: AE titles with line breaks and
terminal escapes, a username with a newline and 10 kB of text, a certificate subject
with a newline. Every record of every dicomnet logger, at DEBUG, must be one short
printable line.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from pathlib import Path

import pytest
from certificates import client_certificate
from cryptography import x509
from cryptography.x509.oid import NameOID

import dicomnet
from dicomnet import user_identity
from dicomnet.acse import build_request
from dicomnet.errors import AssociationRejectedError
from dicomnet.logtext import MAX_PEER_TEXT, peer_text
from dicomnet.pdu import AAssociateRJ, AAssociateRQ
from dicomnet.server import Server
from dicomnet.testing import RawPeer
from dicomnet.tls import TestPKI, client_context, server_context
from dicomnet.uids import VERIFICATION

Serving = Callable[..., AbstractAsyncContextManager[int]]

#: Generous: a log line names a few peer values, each cut to MAX_PEER_TEXT characters
#: (escapes make them up to four times longer) or 200 for a subject.
LONGEST_LINE = 1000


@pytest.mark.parametrize(("value", "expected"), [
    ("MODALITY1", "MODALITY1"),
    ("A\nB\rC", "A\\x0aB\\x0dC"),
    ("\x1b[31mred", "\\x1b[31mred"),
    ("del\x7f", "del\\x7f"),
    ("nul\x00", "nul\\x00"),
    ("line\u2028sep", "line\\u2028sep"),
    ("back\\x0a", "back\\\\x0a"),  # a peer's own "\x0a" cannot pass for an escape
    (b"bytes\n\xff", "bytes\\x0a\xff"),
    ("é ü", "é ü"),
])
def test_peer_text_escapes(value: str | bytes, expected: str) -> None:
    assert peer_text(value) == expected


def test_peer_text_cuts_and_says_how_long() -> None:
    text = peer_text("x" * 10_000)
    assert text == "x" * MAX_PEER_TEXT + "...(10000 chars)"
    assert len(peer_text("\n" * 10_000)) <= MAX_PEER_TEXT * 4 + 20


def _check(caplog: pytest.LogCaptureFixture) -> list[str]:
    messages = [record.getMessage() for record in caplog.records
                if record.name.startswith("dicomnet")]
    for message in messages:
        assert message.isprintable(), repr(message)
        assert len(message) < LONGEST_LINE, message[:200]
    return messages


@pytest.mark.anyio
async def test_peer_text_in_logs_is_escaped_and_short(
        serving: Serving, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="dicomnet")
    users = tmp_path / "users.txt"
    user_identity.add_to_passcode_file(users, "alice", "correct horse")
    server = Server("SECURE", authenticate=user_identity.PasscodeFile(users))
    long_name = "mallory\nINFO forged line\r\x1b[2J" + "A" * 10_000

    def hostile(calling: str, called: str = "SECURE", name: str = "alice"
                ) -> AAssociateRQ:
        built = build_request(calling_ae_title="X", called_ae_title="SECURE",
                              contexts=[(VERIFICATION, ["1.2.840.10008.1.2"])],
                              max_pdu_length=16384,
                              user_identity=user_identity.username(name, "guess"))
        return replace(built, calling_ae_title=calling, called_ae_title=called)

    requests = [
        # A hostile calling AE title and username: refused by the passcode check.
        hostile("\n\r\x1b[31mEVIL", name=long_name),
        # A hostile called AE title: refused before any identity check.
        hostile("OK", "X\nFAKE\x1b[0m"),
    ]
    async with serving(server) as port:
        for request in requests:
            async with RawPeer("127.0.0.1", port) as peer:
                await peer.send(request)
                assert isinstance(await peer.receive_pdu(), AAssociateRJ)
    logged = "\n".join(_check(caplog))
    assert "\\x0a\\x0d\\x1b[31mEVIL" in logged, logged  # the title, escaped
    assert "mallory\\x0aINFO forged line\\x0d\\x1b[2J" in logged, logged
    assert f"({len(long_name)} chars)" in logged, logged  # the username, cut
    assert "X\\x0aFAKE\\x1b[0m" in logged, logged


@pytest.mark.anyio
async def test_a_certificate_subject_in_logs_is_escaped(
        serving: Serving, pki: TestPKI, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="dicomnet")
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                            "evil\nINFO accepted\x1b[0m")])
    cert, key = client_certificate(pki, subject, tmp_path)
    server = Server("SECURE", allowed_certificate_subjects=["CN=modality1"])
    tls = server_context(pki.server_cert, pki.server_key, cafile=pki.ca_cert)
    async with serving(server, ssl=tls) as port:
        with pytest.raises(AssociationRejectedError):
            async with dicomnet.connect(
                    "127.0.0.1", port, called_ae="SECURE",
                    ssl=client_context(cafile=pki.ca_cert, certfile=cert, keyfile=key)):
                pass
    logged = "\n".join(_check(caplog))
    assert "CN=evil\\x0aINFO accepted\\x1b[0m is not allowed" in logged, logged
