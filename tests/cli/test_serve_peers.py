"""``dicomnet serve --peer AET=HOST:PORT[:tls]``: the associations serve opens itself
(C-MOVE sub-operations, storage commitment reports) reach TLS-only peers, presenting
serve's certificate as the client certificate (issue 20, item 9)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pydicom
import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from pydicom.data import get_testdata_file
from queries import query as _query

import dicomnet
from dicomnet.archive import Archive, install
from dicomnet.association import IncomingRequest
from dicomnet.cli.main import build_parser, main
from dicomnet.cli.serve import configure_peers, make_server
from dicomnet.cli.serve_peers import Peer, parse_peers
from dicomnet.dimse import CStoreRQ, Status
from dicomnet.server import Server
from dicomnet.services import query_retrieve as qr
from dicomnet.services.storage import contexts_for
from dicomnet.tls import TestPKI, create_test_pki, server_context

Serving = Callable[..., AbstractAsyncContextManager[int]]
CT = str(get_testdata_file("CT_small.dcm"))


def test_peer_forms() -> None:
    assert parse_peers(["A=pacs.example.org:104", "B=10.0.0.7:2762:tls",
                        "C=[::1]:11112:TLS", " D = host:1"]) == {
        "A": Peer("pacs.example.org", 104, False), "B": Peer("10.0.0.7", 2762, True),
        "C": Peer("::1", 11112, True), "D": Peer("host", 1, False)}


@pytest.mark.parametrize("value", ["A", "A=host", "=host:104", "A=host:tls", "A=:104",
                                   "A=host:70000", "A=host:104:ssl"])
def test_a_peer_that_does_not_parse_is_one_error_line(
        value: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--no-store", "--peer", value]) == 2
    err = capsys.readouterr().err
    assert "AET=HOST:PORT:tls" in err
    assert "Traceback" not in err


def test_tls_init_dual_use_makes_one_certificate_for_both_sides(tmp_path: Path) -> None:
    assert main(["tls", "init", str(tmp_path), "--dual-use"]) == 0
    server = x509.load_pem_x509_certificate((tmp_path / "server.pem").read_bytes())
    usage = server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]


@pytest.fixture(scope="module")
def dual(tmp_path_factory: pytest.TempPathFactory) -> TestPKI:
    return create_test_pki(tmp_path_factory.mktemp("dual-pki"), dual_use=True)


def _serve_args(pki: TestPKI, *peers: str) -> argparse.Namespace:
    return build_parser("serve").parse_args([
        "serve", "--aet", "ARCHIVE", "--tls-ca", str(pki.ca_cert),
        "--tls-cert", str(pki.server_cert), "--tls-key", str(pki.server_key),
        *(option for peer in peers for option in ("--peer", peer))])


@pytest.mark.anyio
async def test_move_sub_operations_reach_a_tls_only_destination(
        serving: Serving, dual: TestPKI, tmp_path: Path) -> None:
    """The destination demands TLS with a client certificate from our CA: with ':tls'
    the sub-operations arrive; the same peer without it is 'unable to perform
    sub-operations' (A702), what every move to a TLS-only peer got before."""
    received: list[str] = []
    destination = Server("DEST", prefer_requestor_order=True)

    @destination.on_store()
    async def keep(request: IncomingRequest) -> int:
        assert request.association.peer_certificate_subject is not None
        assert isinstance(request.message, CStoreRQ)
        received.append(str(request.message.affected_sop_instance_uid))
        return Status.SUCCESS

    tls_only = server_context(dual.server_cert, dual.server_key, cafile=dual.ca_cert)
    ct = pydicom.dcmread(CT)
    async with serving(destination, ssl=tls_only) as dest_port:
        args = _serve_args(dual, f"DEST=127.0.0.1:{dest_port}:tls",
                           f"PLAIN=127.0.0.1:{dest_port}")
        source = make_server(args)
        install(source, Archive(tmp_path / "archive"), configure_peers(args, source))
        async with serving(source) as port:  # the archive itself listens without TLS
            async with dicomnet.connect("127.0.0.1", port, called_ae="ARCHIVE",
                                        contexts=contexts_for([CT])) as assoc:
                assert await assoc.store(CT) == Status.SUCCESS
            async with dicomnet.connect("127.0.0.1", port, called_ae="ARCHIVE",
                                        contexts=[qr.STUDY_ROOT_MOVE]) as assoc:
                query = _query("STUDY", StudyInstanceUID=ct.StudyInstanceUID)
                moved = [r async for r in qr.move(assoc, query, destination="DEST")]
                plain = [r.status async for r in qr.move(assoc, query, destination="PLAIN")]
    assert moved[-1].status == Status.SUCCESS
    assert moved[-1].message.number_of_completed_suboperations == 1  # type: ignore[union-attr]
    assert received == [ct.SOPInstanceUID]
    assert plain == [0xA702]
