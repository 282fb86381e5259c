"""The TLS, user identity and access options of the command line: what they build and
how they refuse bad combinations (exit 2 with one ``E:`` line, nothing started)."""

from __future__ import annotations

import io
import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from dicomnet.cli.main import build_parser, main
from dicomnet.cli.security import OptionError, client_identity, client_ssl_context
from dicomnet.pdu.constants import UserIdentityType
from dicomnet.tls import TestPKI
from dicomnet.user_identity import read_passcode_file, verify_passcode


def _args(*argv: str) -> object:
    return build_parser().parse_args(["echo", "127.0.0.1", "104", *argv])


def test_tls_init_writes_a_usable_pki_and_refuses_to_overwrite(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "pki"
    assert main(["tls", "init", str(folder), "--name", "pacs.example.org",
                 "--address", "10.0.0.5"]) == 0
    server = x509.load_pem_x509_certificate((folder / "server.pem").read_bytes())
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["pacs.example.org"]
    assert [str(a) for a in names.get_values_for_type(x509.IPAddress)] == ["10.0.0.5"]
    usage = server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]
    ca = x509.load_pem_x509_certificate((folder / "ca.pem").read_bytes())
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert server.issuer == ca.subject
    for key in ("ca.key", "server.key", "client.key"):
        assert stat.S_IMODE((folder / key).stat().st_mode) == 0o600
    capsys.readouterr()
    assert main(["tls", "init", str(folder)]) == 1
    assert "--force" in capsys.readouterr().err


def test_client_tls_options(pki: TestPKI) -> None:
    assert client_ssl_context(_args()) is None  # type: ignore[arg-type]
    verified = client_ssl_context(_args("--tls-ca", str(pki.ca_cert)))  # type: ignore[arg-type]
    assert verified is not None and verified.verify_mode == ssl.CERT_REQUIRED
    loose = client_ssl_context(_args("--tls-no-verify"))  # type: ignore[arg-type]
    assert loose is not None and loose.verify_mode == ssl.CERT_NONE
    with pytest.raises(OptionError, match="--tls-key needs --tls-cert"):
        client_ssl_context(_args("--tls-key", str(pki.client_key)))  # type: ignore[arg-type]
    with pytest.raises(OptionError, match="cannot set up TLS"):
        client_ssl_context(_args("--tls-ca", "/nonexistent.pem"))  # type: ignore[arg-type]


def test_identity_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DICOMNET_PASSCODE", raising=False)
    assert client_identity(_args()) is None  # type: ignore[arg-type]
    item = client_identity(_args("--user", "bob"))  # type: ignore[arg-type]
    assert item is not None and item.identity_type == UserIdentityType.USERNAME
    monkeypatch.setenv("DICOMNET_PASSCODE", "pw")
    item = client_identity(_args("--user", "bob", "--identity-response"))  # type: ignore[arg-type]
    assert item is not None and item.secondary_field == b"pw"
    assert item.positive_response_requested
    saml = tmp_path / "assertion.xml"
    saml.write_text("<saml/>")
    item = client_identity(_args("--saml", str(saml)))  # type: ignore[arg-type]
    assert item is not None and (item.identity_type, item.primary_field) == (
        UserIdentityType.SAML, b"<saml/>")
    with pytest.raises(OptionError):
        client_identity(_args("--passcode", "x"))  # type: ignore[arg-type]
    monkeypatch.delenv("DICOMNET_PASSCODE")
    with pytest.raises(OptionError):
        client_identity(_args("--identity-response"))  # type: ignore[arg-type]
    with pytest.raises(SystemExit):  # argparse: one identity at a time
        _args("--user", "a", "--jwt", "t")


@pytest.mark.parametrize("argv", [
    ["serve", "--no-store", "--tls"],                    # no certificate
    ["serve", "--no-store", "--allow-subject", "CN=x"],  # subjects without TLS
    ["serve", "--no-store", "--users", "/nonexistent/users.txt"],
    ["echo", "--passcode", "x", "127.0.0.1", "104"],
    ["serve", "--no-store", "--allow-address", "10.0.0.300"],  # rules that do not parse
    ["serve", "--no-store", "--allow-aet", "A" * 17],
])
def test_bad_combinations_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]
                                 ) -> None:
    assert main(argv) == 2
    assert capsys.readouterr().err.startswith("E: ")


def test_user_add_stores_only_a_hash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    users = tmp_path / "users.txt"
    for name, passcode in (("alice", "one"), ("bob", "two"), ("alice", "three")):
        monkeypatch.setattr("sys.stdin", io.StringIO(passcode + "\n"))
        assert main(["user", "add", "--passcode-stdin", str(users), name]) == 0
    entries = read_passcode_file(users)
    assert sorted(entries) == ["alice", "bob"]
    assert verify_passcode(b"three", entries["alice"])  # replaced
    assert not verify_passcode(b"one", entries["alice"])
    assert "three" not in users.read_text()
    users.write_text("broken line\n")
    with pytest.raises(ValueError, match=r"users\.txt:1"):
        read_passcode_file(users)
