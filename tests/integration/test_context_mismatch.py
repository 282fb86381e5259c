"""A request must name the SOP class of the presentation context it comes on (PS3.7
§9.1, §10.1): any other gets 0122 "SOP Class not supported" with an Error Comment, an
operation that class does not have 0211; nothing is filed, and the association goes
on."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest
from pydicom.data import get_testdata_file

import dicomnet
from dicomnet.archive import Archive, install
from dicomnet.dimse import CEchoRQ, CStoreRQ, NGetRQ, Status
from dicomnet.part10 import dataset_bytes
from dicomnet.server import Server
from dicomnet.services.mpps import MPPS as MPPS_SOP_CLASS
from dicomnet.uids import VERIFICATION
from tests.archive_files import partial_files

pytestmark = pytest.mark.anyio
Serving = Callable[..., AbstractAsyncContextManager[int]]

CT = str(get_testdata_file("CT_small.dcm"))
CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2"


def _filed(folder: Path) -> list[Path]:
    return list(folder.rglob("*.dcm"))


async def test_store_on_the_verification_context_is_refused_and_not_filed(
        serving: Serving, tmp_path: Path) -> None:
    archive = Archive(tmp_path)
    server = Server("ARCHIVE")
    install(server, archive)
    header, data = dataset_bytes(CT)
    syntax = header.transfer_syntax
    async with serving(server) as port, dicomnet.connect(
            "127.0.0.1", port, called_ae="ARCHIVE",
            contexts=[VERIFICATION, (CT_STORAGE, [syntax])]) as assoc:
        verification = assoc.negotiated.find_context(VERIFICATION)
        ct = assoc.negotiated.find_context(CT_STORAGE)
        assert verification is not None and ct is not None
        store = CStoreRQ(affected_sop_class_uid=CT_STORAGE,
                         affected_sop_instance_uid="1.2.3.4")
        response = await assoc.request_one(verification, store, data)
        assert response.status == Status.SOP_CLASS_NOT_SUPPORTED
        comment = response.message.error_comment  # type: ignore[union-attr]
        assert comment == "CT Image Storage on a Verification context"
        echo = CEchoRQ(affected_sop_class_uid=CT_STORAGE)
        response = await assoc.request_one(ct, echo)
        # The context's own class, but not an operation of it (PS3.4 A.3).
        assert response.status == Status.UNRECOGNIZED_OPERATION
        comment = response.message.error_comment  # type: ignore[union-attr]
        assert comment == "C-ECHO is not an operation of CT Image Storage"
        echo = CEchoRQ(affected_sop_class_uid=VERIFICATION)
        response = await assoc.request_one(ct, echo)
        assert response.status == Status.SOP_CLASS_NOT_SUPPORTED
        # The association still serves requests made right.
        assert await assoc.echo() == Status.SUCCESS
    assert partial_files(archive) == []
    assert archive.index.execute("SELECT COUNT(*) FROM instance") == [(0,)]
    assert _filed(tmp_path) == []


async def test_n_get_naming_another_class_is_refused(serving: Serving,
                                                      tmp_path: Path) -> None:
    server = Server("ARCHIVE")
    install(server, Archive(tmp_path))
    async with serving(server) as port, dicomnet.connect(
            "127.0.0.1", port, called_ae="ARCHIVE",
            contexts=[VERIFICATION, MPPS_SOP_CLASS]) as assoc:
        mpps = assoc.negotiated.find_context(MPPS_SOP_CLASS)
        assert mpps is not None
        get = NGetRQ(requested_sop_class_uid="1.2.3.4\x01",
                     requested_sop_instance_uid="1.2.3")
        response = await assoc.request_one(mpps, get)
        assert response.status == Status.SOP_CLASS_NOT_SUPPORTED
        comment = str(response.message.error_comment)  # type: ignore[union-attr]
        assert comment.isascii() and comment.isprintable() and "1.2.3.4" in comment
