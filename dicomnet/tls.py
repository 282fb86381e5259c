"""TLS for DICOM (PS3.15 Annex B): ``ssl.SSLContext`` builders and a small test PKI.

The contexts follow the BCP 195 Secure Transport Connection Profile (PS3.15 B.9, which
points at BCP 195 / RFC 9325): TLS 1.2 and 1.3 only, forward-secret AEAD cipher suites
only, certificates verified by default. A client verifies the server's certificate and
host name unless told otherwise; a server asks for client certificates (mutual TLS)
when it is given a CA bundle to check them against.

:func:`create_test_pki` writes a CA plus server and client key pairs with the key
usages and subject alternative names peers check (DCMTK ignores host names, Python
checks them, so the server certificate names ``localhost``, 127.0.0.1 and ::1).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
    from cryptography.x509 import Certificate, KeyUsage, Name

__all__ = [
    "BCP195_CIPHERS",
    "TestPKI",
    "certificate_name",
    "certificate_subject",
    "client_context",
    "create_test_pki",
    "server_context",
]

#: TLS 1.2 suites allowed by BCP 195 (RFC 9325 §4.2): ephemeral key exchange with an
#: AEAD cipher. TLS 1.3 suites are all AEAD and forward secret, OpenSSL's defaults.
BCP195_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20"


def _base_context(purpose: ssl.Purpose) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT if purpose is ssl.Purpose.SERVER_AUTH
                             else ssl.PROTOCOL_TLS_SERVER)
    # PS3.15 B.9 / RFC 9325 §3.1.1: TLS 1.2 at least; SSL, TLS 1.0 and 1.1 are refused.
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.maximum_version = ssl.TLSVersion.TLSv1_3
    context.set_ciphers(BCP195_CIPHERS)
    context.options |= ssl.OP_NO_COMPRESSION  # RFC 9325 §3.3 (CRIME)
    return context


def client_context(*, cafile: str | os.PathLike[str] | None = None,
                   certfile: str | os.PathLike[str] | None = None,
                   keyfile: str | os.PathLike[str] | None = None,
                   verify: bool = True) -> ssl.SSLContext:
    """A TLS context for connecting to a DICOM server.

    The server's certificate is checked against ``cafile`` (default: the system's trust
    store) and its host name against the name connected to. ``certfile``/``keyfile``
    present a client certificate, for servers that demand one. ``verify=False`` turns
    every check off: the connection is encrypted but anyone can pretend to be the
    server; use it only to diagnose.
    """
    context = _base_context(ssl.Purpose.SERVER_AUTH)
    if verify:
        if cafile is not None:
            context.load_verify_locations(cafile=os.fspath(cafile))
        else:
            context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    else:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if certfile is not None:
        context.load_cert_chain(os.fspath(certfile),
                                os.fspath(keyfile) if keyfile is not None else None)
    return context


def server_context(certfile: str | os.PathLike[str], keyfile: str | os.PathLike[str] | None
                   = None, *, cafile: str | os.PathLike[str] | None = None,
                   require_client_certificate: bool | None = None) -> ssl.SSLContext:
    """A TLS context for a DICOM server presenting ``certfile`` (with ``keyfile``).

    With ``cafile``, clients must present a certificate signed by one of its CAs (mutual
    TLS, as DCMTK's storescp does by default); ``require_client_certificate=False``
    makes the certificate optional but still verified when sent.
    """
    context = _base_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(os.fspath(certfile),
                            os.fspath(keyfile) if keyfile is not None else None)
    if require_client_certificate is None:
        require_client_certificate = cafile is not None
    if cafile is not None:
        context.load_verify_locations(cafile=os.fspath(cafile))
        context.verify_mode = ssl.CERT_REQUIRED if require_client_certificate \
            else ssl.CERT_OPTIONAL
    elif require_client_certificate:
        raise ValueError("requiring client certificates needs a CA bundle (cafile)")
    return context


def certificate_name(der: bytes | None) -> Name | None:
    """The subject of a DER certificate as a parsed X.509 name, what
    :class:`~dicomnet.Server` access rules compare (see :mod:`dicomnet.access_rules`);
    None without a certificate or when it does not parse."""
    if not der:
        return None
    from cryptography import x509

    try:
        return x509.load_der_x509_certificate(der).subject
    except ValueError:  # OpenSSL verified it, but cryptography is stricter
        return None


def certificate_subject(der: bytes | None) -> str | None:
    """The subject of a DER certificate as an RFC 4514 string (``CN=...,O=...``), for
    people to read. Rules must not compare it: see :func:`certificate_name`."""
    name = certificate_name(der)
    return None if name is None else name.rfc4514_string()


# -- a small PKI for tests and first deployments ----------------------------------------


@dataclass(frozen=True)
class TestPKI:
    """Paths of the files :func:`create_test_pki` wrote (PEM)."""

    __test__ = False  # not a pytest test class, whatever its name

    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def create_test_pki(folder: str | os.PathLike[str], *,
                    server_names: tuple[str, ...] = ("localhost",),
                    server_addresses: tuple[str, ...] = ("127.0.0.1", "::1"),
                    client_name: str = "dicomnet-client",
                    days: int = 825, overwrite: bool = False,
                    dual_use: bool = False) -> TestPKI:
    """Write a CA, a server and a client key pair signed by it into ``folder``.

    RSA 2048 keys (what every DICOM peer accepts); the CA may only sign certificates;
    the server certificate is for TLS servers (``serverAuth``) with ``server_names`` and
    ``server_addresses`` as subject alternative names; the client certificate is for TLS
    clients (``clientAuth``). With ``dual_use`` the server certificate is for TLS
    clients too (``serverAuth`` and ``clientAuth``): a node that also opens
    associations (``dicomnet serve`` moving to a TLS peer, Orthanc) presents one
    certificate on both sides, and peers check the extended key usage of the side it
    is used on. Keys are written readable by the owner only, unencrypted: protect the
    folder. Existing files are kept unless ``overwrite``.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    pki = TestPKI(*(out / name for name in (
        "ca.pem", "ca.key", "server.pem", "server.key", "client.pem", "client.key")))
    if not overwrite:
        existing = [p.name for p in vars(pki).values() if p.exists()]
        if existing:
            raise FileExistsError(f"{out} already holds {', '.join(existing)}")

    def name(common_name: str) -> Name:
        return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "dicomnet test PKI"),
                          x509.NameAttribute(NameOID.COMMON_NAME, common_name)])

    def new_key() -> RSAPrivateKey:
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)

    now = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)
    until = now + datetime.timedelta(days=days)
    ca_key = new_key()
    ca_name = name("dicomnet test CA")

    def builder(subject: Name, key: RSAPrivateKey) -> x509.CertificateBuilder:
        return (x509.CertificateBuilder().subject_name(subject).issuer_name(ca_name)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now).not_valid_after(until)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                               critical=False))

    from cryptography.hazmat.primitives import hashes

    ca_cert = (builder(ca_name, ca_key)
               .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
               .add_extension(_key_usage(cert_sign=True), critical=True)
               .sign(ca_key, hashes.SHA256()))
    authority = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key())

    def leaf(common_name: str, usages: list[x509.ObjectIdentifier],
             alternative_names: list[x509.GeneralName]) -> tuple[Certificate, RSAPrivateKey]:
        key = new_key()
        built = (builder(name(common_name), key)
                 .add_extension(x509.BasicConstraints(ca=False, path_length=None),
                                critical=True)
                 .add_extension(_key_usage(cert_sign=False), critical=True)
                 .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
                 .add_extension(authority, critical=False))
        if alternative_names:
            built = built.add_extension(x509.SubjectAlternativeName(alternative_names),
                                        critical=False)
        return built.sign(ca_key, hashes.SHA256()), key

    server_alt: list[x509.GeneralName] = [x509.DNSName(n) for n in server_names]
    server_alt += [x509.IPAddress(ipaddress.ip_address(a)) for a in server_addresses]
    server_usages = [ExtendedKeyUsageOID.SERVER_AUTH]
    if dual_use:
        server_usages.append(ExtendedKeyUsageOID.CLIENT_AUTH)
    server_cert, server_key = leaf(server_names[0] if server_names else "dicomnet server",
                                   server_usages, server_alt)
    client_cert, client_key = leaf(client_name, [ExtendedKeyUsageOID.CLIENT_AUTH], [])
    for cert, key, cert_path, key_path in (
            (ca_cert, ca_key, pki.ca_cert, pki.ca_key),
            (server_cert, server_key, pki.server_cert, pki.server_key),
            (client_cert, client_key, pki.client_cert, pki.client_key)):
        _write(key_path, _pem_key(key), private=True)
        _write(cert_path, _pem_cert(cert), private=False)
    return pki


def _key_usage(*, cert_sign: bool) -> KeyUsage:
    """Key usage for a CA (sign certificates and CRLs) or a TLS end entity (sign the
    handshake; RSA key exchange for TLS 1.2 peers that still use it)."""
    from cryptography.x509 import KeyUsage

    return KeyUsage(digital_signature=not cert_sign, content_commitment=False,
                    key_encipherment=not cert_sign, data_encipherment=False,
                    key_agreement=False, key_cert_sign=cert_sign, crl_sign=cert_sign,
                    encipher_only=False, decipher_only=False)


def _pem_key(key: RSAPrivateKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(serialization.Encoding.PEM,
                             serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())


def _pem_cert(cert: Certificate) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return cert.public_bytes(serialization.Encoding.PEM)


def _write(path: Path, data: bytes, *, private: bool) -> None:
    """Write atomically; keys are created 0600 from the start, never world-readable."""
    temporary = path.with_name(path.name + ".tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    descriptor = os.open(temporary, flags, 0o600 if private else 0o644)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
    os.replace(temporary, path)
