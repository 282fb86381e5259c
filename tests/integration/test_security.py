"""TLS, access rules and user identity between dicomnet's client and server on
127.0.0.1, on asyncio and trio (PS3.15 Annex B, PS3.8 Table 9-21, PS3.7 D.3.3.7).

Every refusal is checked twice: the refused peer sees the right failure, and the server
keeps serving the next peer.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest

import dicomnet
from dicomnet import Association, user_identity
from dicomnet.association import IncomingRequest
from dicomnet.dimse import Status
from dicomnet.errors import AssociationRejectedError, DicomNetError
from dicomnet.pdu import UserIdentityRQSubItem
from dicomnet.server import Server
from dicomnet.tls import TestPKI, client_context, server_context

pytestmark = pytest.mark.anyio
Serving = Callable[..., AbstractAsyncContextManager[int]]


def _client(pki: TestPKI, *, certificate: bool = True, trusted: TestPKI | None = None
            ) -> ssl.SSLContext:
    return client_context(cafile=(trusted or pki).ca_cert,
                          certfile=pki.client_cert if certificate else None,
                          keyfile=pki.client_key if certificate else None)


async def _echo_ok(port: int, context: ssl.SSLContext | None, **kwargs: object) -> None:
    async with dicomnet.connect("127.0.0.1", port, called_ae="SECURE", ssl=context,
                                **kwargs) as assoc:  # type: ignore[arg-type]
        assert await assoc.echo() == Status.SUCCESS


# -- TLS -------------------------------------------------------------------------------------


async def test_mutual_tls_echo_and_the_subject_reaches_handlers(
        serving: Serving, pki: TestPKI) -> None:
    server = Server("SECURE")
    seen: list[str | None] = []

    @server.on_echo()
    async def echo(request: IncomingRequest) -> int:
        seen.append(request.association.peer_certificate_subject)
        return Status.SUCCESS

    tls = server_context(pki.server_cert, pki.server_key, cafile=pki.ca_cert)
    async with serving(server, ssl=tls) as port:
        await _echo_ok(port, _client(pki))
    assert seen == ["CN=dicomnet-client,O=dicomnet test PKI"]


@pytest.mark.parametrize("case", ["no certificate", "untrusted certificate", "plain TCP",
                                  "client distrusts server"])
async def test_tls_refusals_leave_the_server_serving(
        serving: Serving, pki: TestPKI, rogue_pki: TestPKI, case: str,
        caplog: pytest.LogCaptureFixture) -> None:
    server = Server("SECURE")
    tls = server_context(pki.server_cert, pki.server_key, cafile=pki.ca_cert)
    contexts: dict[str, ssl.SSLContext | None] = {
        "no certificate": _client(pki, certificate=False),
        "untrusted certificate": client_context(cafile=pki.ca_cert,
                                                certfile=rogue_pki.client_cert,
                                                keyfile=rogue_pki.client_key),
        "plain TCP": None,
        "client distrusts server": _client(pki, trusted=rogue_pki),
    }
    async with serving(server, ssl=tls) as port:
        with pytest.raises((DicomNetError, OSError)):
            await _echo_ok(port, contexts[case])
        await _echo_ok(port, _client(pki))  # the next peer is served
    if case != "client distrusts server":  # then the server only sees a closed socket
        assert any("TLS handshake with 127.0.0.1" in r.getMessage()
                   for r in caplog.records if r.levelno == logging.WARNING), caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


async def test_tls_without_client_certificates(serving: Serving, pki: TestPKI) -> None:
    """Without a CA bundle the server asks for no certificate (TLS for privacy only)."""
    server = Server("SECURE")
    seen: list[str | None] = []

    @server.on_echo()
    async def echo(request: IncomingRequest) -> int:
        seen.append(request.association.peer_certificate_subject)
        return Status.SUCCESS

    async with serving(server, ssl=server_context(pki.server_cert, pki.server_key)) as port:
        await _echo_ok(port, _client(pki, certificate=False))
    assert seen == [None]


def test_contexts_follow_the_bcp195_profile(pki: TestPKI) -> None:
    for context in (_client(pki), server_context(pki.server_cert, pki.server_key)):
        assert context.minimum_version == ssl.TLSVersion.TLSv1_2
        assert context.maximum_version == ssl.TLSVersion.TLSv1_3
        for cipher in context.get_ciphers():
            if cipher["protocol"] == "TLSv1.2":
                assert cipher["aead"], cipher["name"]
                assert cipher["kea"] in ("kx-ecdhe", "kx-dhe"), cipher["name"]
    client = _client(pki)
    assert client.verify_mode == ssl.CERT_REQUIRED and client.check_hostname
    assert server_context(pki.server_cert, pki.server_key,
                          cafile=pki.ca_cert).verify_mode == ssl.CERT_REQUIRED
    assert server_context(pki.server_cert, pki.server_key, cafile=pki.ca_cert,
                          require_client_certificate=False).verify_mode == ssl.CERT_OPTIONAL
    with pytest.raises(ValueError, match="CA bundle"):
        server_context(pki.server_cert, pki.server_key, require_client_certificate=True)


# -- who may associate ----------------------------------------------------------------


async def _rejection(port: int, context: ssl.SSLContext | None = None, *,
                     calling_ae: str = "ME",
                     identity: UserIdentityRQSubItem | None = None
                     ) -> AssociationRejectedError:
    with pytest.raises(AssociationRejectedError) as caught:
        async with dicomnet.connect("127.0.0.1", port, called_ae="SECURE",
                                    calling_ae=calling_ae, ssl=context,
                                    user_identity=identity):
            pass
    return caught.value


async def test_calling_ae_and_address_rules(serving: Serving,
                                            caplog: pytest.LogCaptureFixture) -> None:
    server = Server("SECURE", allowed_calling_ae_titles=["MODALITY"])
    async with serving(server) as port:
        refused = await _rejection(port, calling_ae="STRANGER")
        assert (refused.result, refused.source, refused.reason) == (1, 1, 3)
        await _echo_ok(port, None, calling_ae="MODALITY")
    assert "STRANGER" in caplog.text

    for allowed, ok in ((["10.0.0.0/8"], False), (["127.0.0.0/8", "::1"], True)):
        server = Server("SECURE", allowed_addresses=allowed)
        async with serving(server) as port:
            if ok:
                await _echo_ok(port, None)
            else:
                refused = await _rejection(port)
                assert (refused.result, refused.source, refused.reason) == (1, 1, 1)
                assert "address 127.0.0.1 is not allowed" in caplog.text


async def test_certificate_subject_rules(serving: Serving, pki: TestPKI) -> None:
    tls = server_context(pki.server_cert, pki.server_key, cafile=pki.ca_cert,
                         require_client_certificate=False)
    server = Server("SECURE", allowed_certificate_subjects=["CN=dicomnet-client"])
    async with serving(server, ssl=tls) as port:
        await _echo_ok(port, _client(pki))
        refused = await _rejection(port, _client(pki, certificate=False))
        assert (refused.result, refused.source, refused.reason) == (1, 1, 1)
    server = Server("SECURE", allowed_certificate_subjects=["CN=somebody-else"])
    async with serving(server, ssl=tls) as port:
        refused = await _rejection(port, _client(pki))
        assert (refused.result, refused.source, refused.reason) == (1, 1, 1)


# -- user identity -----------------------------------------------------------------------


async def test_user_identity_accept_reject_and_positive_response(serving: Serving) -> None:
    seen: list[UserIdentityRQSubItem | None] = []

    async def authenticate(identity: UserIdentityRQSubItem | None,
                           association: Association) -> bool | bytes:
        seen.append(identity)
        if identity is None:
            return False
        if identity.identity_type == user_identity.UserIdentityType.JWT:
            return b"server-token" if identity.primary_field == b"good.jwt" else False
        return identity.primary_field == b"alice"

    server = Server("SECURE", authenticate=authenticate)
    async with serving(server) as port:
        # No identity: rejected-permanent by the ACSE service provider (PS3.7 D.3.3.7).
        refused = await _rejection(port)
        assert (refused.result, refused.source, refused.reason) == (1, 2, 1)
        refused = await _rejection(port, identity=user_identity.username("mallory"))
        assert (refused.result, refused.source, refused.reason) == (1, 2, 1)
        async with dicomnet.connect("127.0.0.1", port, called_ae="SECURE",
                                    user_identity=user_identity.username("alice")) as assoc:
            assert await assoc.echo() == Status.SUCCESS
            assert assoc.negotiated.user_identity_response is None  # none asked for
        async with dicomnet.connect(
                "127.0.0.1", port, called_ae="SECURE",
                user_identity=user_identity.jwt("good.jwt", positive_response=True)) as assoc:
            assert assoc.negotiated.user_identity_response == b"server-token"
        refused = await _rejection(port, identity=user_identity.jwt("bad.jwt"))
        assert refused.source == 2
    assert seen[0] is None
    assert [s.primary_field for s in seen[1:] if s is not None] == [
        b"mallory", b"alice", b"good.jwt", b"bad.jwt"]


async def test_passcode_file(serving: Serving, tmp_path: Path,
                             caplog: pytest.LogCaptureFixture) -> None:
    users = tmp_path / "users.txt"
    user_identity.add_to_passcode_file(users, "alice", "correct horse")
    user_identity.add_to_passcode_file(users, "bob", "battery staple")
    text = users.read_text()
    assert "correct horse" not in text and text.count("scrypt$") == 2
    assert users.stat().st_mode & 0o077 == 0  # owner only
    server = Server("SECURE", authenticate=user_identity.PasscodeFile(users))
    async with serving(server) as port:
        async with dicomnet.connect(
                "127.0.0.1", port, called_ae="SECURE",
                user_identity=user_identity.username("alice", "correct horse",
                                                     positive_response=True)) as assoc:
            # PS3.7 D.3.3.7.2: types 1 and 2 get an empty positive response.
            assert assoc.negotiated.user_identity_response == b""
        for identity in (user_identity.username("alice", "wrong"),
                         user_identity.username("carol", "correct horse"),
                         user_identity.username("alice"), None):
            await _rejection(port, identity=identity)
    assert "correct horse" not in caplog.text  # never logged, even at DEBUG
    assert "wrong" not in caplog.text.replace("wrong passcode", "")


# -- log hygiene --------------------------------------------------------------------------


async def test_no_patient_data_in_logs_at_the_default_level(
        serving: Serving, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Store, query, a refused query and a refused C-STORE, logged at WARNING (the
    default): the patient's name and ID appear in no log line."""
    import pydicom
    from pydicom.data import get_testdata_file

    from dicomnet.archive import Archive, install
    from dicomnet.services import query_retrieve as qr
    from dicomnet.services.storage import contexts_for

    caplog.set_level(logging.WARNING, logger="dicomnet")
    source = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    source.PatientName = "Secretname^Patient"
    source.PatientID = "PIDSECRET42"
    path = tmp_path / "secret.dcm"
    source.save_as(path)
    server = Server("ARCHIVE", prefer_requestor_order=True)
    archive = Archive(tmp_path / "archive")
    install(server, archive)
    async with serving(server) as port:
        async with dicomnet.connect("127.0.0.1", port, called_ae="ARCHIVE",
                                    contexts=[*contexts_for([path]), qr.PATIENT_ROOT_FIND]
                                    ) as assoc:
            assert await assoc.store(path) == Status.SUCCESS
            for query_keys in ({"PatientName": "Secret*", "PatientID": "PIDSECRET42"},
                               {"PatientBirthDate": "PIDSECRET42-"}):  # a bad range
                query = pydicom.Dataset()
                query.QueryRetrieveLevel = "PATIENT"
                for keyword, value in query_keys.items():
                    setattr(query, keyword, value)
                async for _response in qr.find(assoc, query, model="patient"):
                    pass
            # The file system refuses (a file where the series folder must go, which
            # stops root too): the archive logs the failure at ERROR.
            source.SOPInstanceUID = "1.2.3.4.5.6.7"
            source.SeriesInstanceUID = "1.2.3.4.5.6.8"
            (archive.folder / "PIDSECRET42" / source.StudyInstanceUID
             / "1.2.3.4.5.6.8").write_bytes(b"in the way")
            status = await assoc.store(source)
    logged = "\n".join(record.getMessage() for record in caplog.records
                       if record.levelno >= logging.WARNING
                       and record.name.startswith("dicomnet"))
    assert status != Status.SUCCESS and "1.2.3.4.5.6.7" in logged, logged
    assert "refused" in logged, logged  # the bad query was logged...
    assert "Secret" not in logged and "PIDSECRET42" not in logged, logged  # ...anonymously
