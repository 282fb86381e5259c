"""A damaged C-STORE data set is refused, not filed (PS3.4 Table B.2-1, "Error: Cannot
understand"); whole ones in every kind of transfer syntax still are.

A sender sends a data set whose bytes end before its structure does (an element or the
pixel data shorter than declared, a header cut in two, a sequence whose delimiter never
comes) or a deflated one that does not inflate. Before, the archive filed the first
kinds and answered Success, and the last gave a traceback. Now each gets a Cxxx status
with an Error Comment, one WARNING line without patient data, no file and no index
row, and the server goes on serving; ``accept_damaged=True`` files what can be filed.
"""

from __future__ import annotations

import logging
import struct
import zlib
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest
from archive_files import partial_files
from pydicom.data import get_testdata_file

import dicomnet
from dicomnet.acse import build_request
from dicomnet.archive import Archive, install
from dicomnet.dimse import CEchoRQ, CStoreRQ, Status, decode_command, encode_command, pdata_pdu
from dicomnet.dimse.integrity import MALFORMED, TRUNCATED, UNDECODABLE
from dicomnet.part10 import dataset_bytes
from dicomnet.pdu import AAssociateAC, PDataTF, encode_pdu
from dicomnet.server import Server
from dicomnet.services.storage import contexts_for
from dicomnet.testing import RawPeer
from dicomnet.uids import EXPLICIT_VR_LITTLE_ENDIAN

pytestmark = pytest.mark.anyio
Serving = Callable[..., AbstractAsyncContextManager[int]]

CT = str(get_testdata_file("CT_small.dcm"))
CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
VERIFICATION = "1.2.840.10008.1.1"
DEFLATED = "1.2.840.10008.1.2.1.99"
PATIENT_NAME = "CompressedSamples"  # CT_small's: must not reach the log
HEADER, WHOLE = dataset_bytes(CT)
PIXEL_DATA = WHOLE.index(b"\xe0\x7f\x10\x00OW")
PATIENT_NAME_AT = WHOLE.index(b"\x10\x00\x10\x00PN")
ITEM = struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF)
ITEM_END = struct.pack("<HHI", 0xFFFE, 0xE00D, 0)
UID = struct.pack("<HH2sH", 0x0008, 0x1155, b"UI", 8) + b"1.2.3.4\x00"


def _deflate(data: bytes) -> bytes:
    deflater = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    return deflater.compress(data) + deflater.flush()


#: name: (transfer syntax, data set bytes, expected status)
DAMAGED = {
    "element-past-the-end": (
        EXPLICIT_VR_LITTLE_ENDIAN,
        WHOLE[:PIXEL_DATA] + struct.pack("<HH2sH", 0x0040, 0x0254, b"LO", 60) + b"CT HEAD",
        TRUNCATED),
    "pixel-data-short": (EXPLICIT_VR_LITTLE_ENDIAN, WHOLE[:-1000], TRUNCATED),
    "header-cut": (EXPLICIT_VR_LITTLE_ENDIAN, WHOLE[:PATIENT_NAME_AT + 5], TRUNCATED),
    "sequence-without-delimiter": (
        EXPLICIT_VR_LITTLE_ENDIAN,
        WHOLE[:PIXEL_DATA] + struct.pack("<HH2sHI", 0x0040, 0x0275, b"SQ", 0, 0xFFFFFFFF)
        + ITEM + UID + ITEM_END,
        TRUNCATED),
    "item-at-the-top-level": (EXPLICIT_VR_LITTLE_ENDIAN, WHOLE[:PIXEL_DATA] + ITEM + UID,
                              MALFORMED),
    "deflate-garbage": (DEFLATED, b"\xde\xad\xbe\xef" * 500, UNDECODABLE),
    "deflate-truncated": (DEFLATED, _deflate(WHOLE)[:-40], UNDECODABLE),
}


async def _store_raw(port: int, syntax: str, data: bytes
                     ) -> tuple[int | None, str | None, int | None]:
    """C-STORE ``data`` as CT_small's data set, then C-ECHO on the same association:
    (store status, its Error Comment, echo status)."""
    async with RawPeer("127.0.0.1", port) as peer:
        await peer.send(encode_pdu(build_request(
            calling_ae_title="RAW", called_ae_title="SCP",
            contexts=[(CT_STORAGE, [syntax]), (VERIFICATION, [EXPLICIT_VR_LITTLE_ENDIAN])],
            max_pdu_length=16384)))
        assert isinstance(await peer.receive_pdu(), AAssociateAC)
        await peer.send(pdata_pdu(1, True, True, encode_command(CStoreRQ(
            message_id=1, affected_sop_class_uid=CT_STORAGE,
            affected_sop_instance_uid=HEADER.sop_instance_uid))))
        fragments = [data[start:start + 4096] for start in range(0, len(data), 4096)]
        for index, fragment in enumerate(fragments):
            await peer.send(pdata_pdu(1, False, index == len(fragments) - 1, fragment))
        answer = await peer.receive_pdu()
        assert isinstance(answer, PDataTF)
        response = decode_command(answer.pdvs[0].data)
        await peer.send(pdata_pdu(3, True, True, encode_command(CEchoRQ(
            message_id=2, affected_sop_class_uid=VERIFICATION))))
        echo = await peer.receive_pdu()
        assert isinstance(echo, PDataTF)
        return (getattr(response, "status", None), getattr(response, "error_comment", None),
                getattr(decode_command(echo.pdvs[0].data), "status", None))


@pytest.mark.parametrize("case", list(DAMAGED))
async def test_a_damaged_data_set_is_refused_and_nothing_is_filed(
        serving: Serving, tmp_path: Path, caplog: pytest.LogCaptureFixture, case: str
        ) -> None:
    syntax, data, expected = DAMAGED[case]
    server = Server("SCP", prefer_requestor_order=True)
    archive = Archive(tmp_path / "archive")
    install(server, archive)
    caplog.clear()
    async with serving(server) as port:
        status, comment, echo = await _store_raw(port, syntax, data)
        assert status == expected
        assert 0xC000 <= expected <= 0xCFFF  # Error: Cannot understand
        assert comment and len(comment) <= 64
        assert echo == Status.SUCCESS
        # The server still serves: a new association stores the whole instance.
        async with dicomnet.connect("127.0.0.1", port, called_ae="SCP",
                                    contexts=contexts_for([CT])) as assoc:
            assert await assoc.store(CT) == Status.SUCCESS
    assert archive.index.count("instance") == 1  # only the whole one
    assert len(list(archive.folder.rglob("*.dcm"))) == 1
    assert not partial_files(archive)
    archive.close()
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING
                and r.name.startswith("dicomnet") and "damaged" in r.getMessage()]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert not [r for r in caplog.records if r.exc_info is not None]
    assert not [r for r in caplog.records
                if r.levelno >= logging.WARNING and PATIENT_NAME in r.getMessage()]


async def test_accept_damaged_files_a_truncated_data_set_and_says_so(
        serving: Serving, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    server = Server("SCP", prefer_requestor_order=True, accept_damaged=True)
    archive = Archive(tmp_path / "archive")
    install(server, archive)
    syntax, data, _status = DAMAGED["pixel-data-short"]
    async with serving(server) as port:
        status, _comment, echo = await _store_raw(port, syntax, data)
        # A deflate stream that does not inflate holds nothing to file: still refused.
        garbage = await _store_raw(port, *DAMAGED["deflate-garbage"][:2])
    assert status == Status.SUCCESS
    assert echo == Status.SUCCESS
    assert garbage[0] == UNDECODABLE
    assert archive.index.count("instance") == 1
    assert len(list(archive.folder.rglob("*.dcm"))) == 1
    archive.close()
    accepted = [r for r in caplog.records if r.levelno == logging.WARNING
                and "damaged data set accepted" in r.getMessage()]
    assert len(accepted) == 1


async def test_a_plain_handler_is_not_called_for_a_damaged_data_set(
        serving: Serving) -> None:
    """The refusal is the Server's, for every C-STORE SCP, not the archive's."""
    called: list[object] = []

    async def handler(request: object) -> int:
        called.append(request)
        return Status.SUCCESS

    server = Server("SCP")
    server.on_store(sop_classes=[CT_STORAGE])(handler)
    async with serving(server) as port:
        status, comment, _echo = await _store_raw(port, *DAMAGED["header-cut"][:2])
        assert status == TRUNCATED and comment
        assert called == []
        status, _comment, _echo = await _store_raw(port, EXPLICIT_VR_LITTLE_ENDIAN, WHOLE)
    assert status == Status.SUCCESS
    assert len(called) == 1
    assert getattr(called[0], "damage", "missing") is None


WHOLE_FILES = ["CT_small.dcm", "MR_small_implicit.dcm", "MR_small_bigendian.dcm",
               "image_dfl.dcm", "JPEG-lossy.dcm", "SC_rgb_rle.dcm"]


async def test_whole_data_sets_in_every_kind_of_syntax_are_filed(
        serving: Serving, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    server = Server("SCP", prefer_requestor_order=True)
    archive = Archive(tmp_path / "archive")
    install(server, archive)
    paths = [str(get_testdata_file(name)) for name in WHOLE_FILES]
    async with serving(server) as port:
        async with dicomnet.connect("127.0.0.1", port, called_ae="SCP",
                                    contexts=contexts_for(paths)) as assoc:
            for path in paths:
                assert await assoc.store(path) == Status.SUCCESS, path
    # (Some of these files are one instance in several syntaxes: it is replaced.)
    instances = {dataset_bytes(path)[0].sop_instance_uid for path in paths}
    assert archive.index.count("instance") == len(instances)
    assert len(list(archive.folder.rglob("*.dcm"))) == len(instances)
    archive.close()
    assert not [r for r in caplog.records if "damaged" in r.getMessage()]


async def test_a_data_set_for_another_instance_is_still_refused_c000(
        serving: Serving, tmp_path: Path) -> None:
    """Whole, but not the instance the command names: the archive's own refusal."""
    server = Server("SCP", prefer_requestor_order=True)
    archive = Archive(tmp_path / "archive")
    install(server, archive)
    other = WHOLE.replace(HEADER.sop_instance_uid.encode(),
                          HEADER.sop_instance_uid[:-1].encode() + b"9")
    assert other != WHOLE
    async with serving(server) as port:
        status, _comment, _echo = await _store_raw(port, EXPLICIT_VR_LITTLE_ENDIAN, other)
    assert status == 0xC000
    assert archive.index.count("instance") == 0
    archive.close()


def test_serve_refuses_damaged_data_unless_told_otherwise() -> None:
    from dicomnet.cli.main import build_parser
    from dicomnet.cli.serve import make_server

    parser = build_parser()
    assert make_server(parser.parse_args(["serve"])).accept_damaged is False
    assert make_server(parser.parse_args(["serve", "--accept-damaged"])).accept_damaged
