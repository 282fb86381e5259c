"""A Patient ID corrected at the modality, over real sockets: the study sent as WRONG-ID
and re-sent as RIGHT-ID with the same UIDs is found, at every query level and by C-GET,
under RIGHT-ID with all its instances and under WRONG-ID not at all; and the
``duplicates`` policy as a sender sees it."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest
from instances import write_instance
from queries import query

import dicomnet
from dicomnet.archive import Archive, install
from dicomnet.association import IncomingRequest
from dicomnet.dimse import Status
from dicomnet.server import Server
from dicomnet.services import query_retrieve as qr
from dicomnet.services.storage import StoreStatus, answer_store, contexts_for, store_each

pytestmark = pytest.mark.anyio
Serving = Callable[..., AbstractAsyncContextManager[int]]

STUDY = "1.2.826.0.1.3680043.2.1143.78.1"
SERIES = STUDY + ".1"
SOPS = [f"{SERIES}.{n}" for n in (1, 2, 3)]
MR_STORAGE = "1.2.840.10008.5.1.4.1.1.4"


def _study(folder: Path, patient_id: str, count: int = 3) -> list[Path]:
    folder.mkdir(exist_ok=True)
    return [write_instance(folder, f"{patient_id}-{n}.dcm", PatientID=patient_id,
                           PatientName=f"{patient_id}^NAME", StudyInstanceUID=STUDY,
                           SeriesInstanceUID=SERIES, SOPInstanceUID=sop)
            for n, sop in enumerate(SOPS[:count])]


async def _store(port: int, files: list[Path]) -> list[StoreStatus]:
    async with dicomnet.connect("127.0.0.1", port, called_ae="ARCHIVE",
                                contexts=contexts_for([str(f) for f in files])) as assoc:
        return [status async for _item, status in store_each(assoc, files)
                if isinstance(status, StoreStatus)]


async def _find(port: int, model: str, level: str, patient_id: str) -> list[str]:
    """The unique keys of the level found for ``patient_id`` (by PatientID matching)."""
    key = {"PATIENT": "PatientID", "STUDY": "StudyInstanceUID",
           "SERIES": "SeriesInstanceUID", "IMAGE": "SOPInstanceUID"}[level]
    identifier = query(level, PatientID=patient_id, **({key: ""} if key != "PatientID"
                                                        else {}))
    if level in ("SERIES", "IMAGE"):
        identifier.StudyInstanceUID = STUDY  # hierarchical: the keys above (C.4.1.2.1)
        if level == "IMAGE":
            identifier.SeriesInstanceUID = SERIES
    async with dicomnet.connect("127.0.0.1", port, called_ae="ARCHIVE",
                                contexts=[qr.FIND_MODELS[model]]) as assoc:
        responses = [r async for r in qr.find(assoc, identifier, model=model)]
    assert responses[-1].status == Status.SUCCESS
    return sorted(str(r.dataset.get(key)) for r in responses[:-1]
                  if r.dataset is not None)


async def _get(port: int, patient_id: str) -> tuple[int, dict[str, str]]:
    """C-GET (Patient Root, PATIENT level) by Patient ID: the final status and the
    Patient ID of each instance received, by SOP Instance UID."""
    received: dict[str, str] = {}

    async def keep(request: IncomingRequest) -> int:
        assert request.dataset is not None
        received[str(request.dataset.SOPInstanceUID)] = str(request.dataset.PatientID)
        return Status.SUCCESS

    async def on_request(request: IncomingRequest) -> None:
        await answer_store(request, keep)

    async with dicomnet.connect("127.0.0.1", port, called_ae="ARCHIVE",
                                contexts=[qr.PATIENT_ROOT_GET, MR_STORAGE],
                                roles={MR_STORAGE: (True, True)},
                                on_request=on_request) as assoc:
        responses = [r async for r in qr.get(assoc, query("PATIENT", PatientID=patient_id),
                                             model="patient")]
    return responses[-1].status, received


@pytest.mark.parametrize("resent", [3, 1], ids=["all-resent", "one-resent"])
async def test_a_corrected_patient_id_is_what_queries_and_retrievals_see(
        serving: Serving, tmp_path: Path, resent: int) -> None:
    server = Server("ARCHIVE", prefer_requestor_order=True)
    archive = Archive(tmp_path / "archive")
    install(server, archive)
    async with serving(server) as port:
        assert await _store(port, _study(tmp_path / "sent", "WRONG-ID")) == [0, 0, 0]
        right = _study(tmp_path / "sent", "RIGHT-ID", resent)
        assert await _store(port, right) == [0] * resent
        for model, levels in (("patient", ("PATIENT", "STUDY", "SERIES", "IMAGE")),
                              ("study", ("STUDY", "SERIES", "IMAGE"))):
            for level in levels:
                found = await _find(port, model, level, "RIGHT-ID")
                expected = {"PATIENT": ["RIGHT-ID"], "STUDY": [STUDY], "SERIES": [SERIES],
                            "IMAGE": SOPS}[level]
                assert found == expected, (model, level)
                assert await _find(port, model, level, "WRONG-ID") == [], (model, level)
        status, received = await _get(port, "RIGHT-ID")
        assert status == Status.SUCCESS
        # Every instance of the study; the files not re-sent still say WRONG-ID inside
        # (the archive serves what it received, it does not rewrite data sets).
        assert received == {sop: "RIGHT-ID" if n < resent else "WRONG-ID"
                            for n, sop in enumerate(SOPS)}
        status, received = await _get(port, "WRONG-ID")
        assert (status, received) == (Status.SUCCESS, {})
    archive.close()


@pytest.mark.parametrize("policy", ["replace", "keep", "reject"])
async def test_the_duplicates_policy_as_a_sender_sees_it(serving: Serving, tmp_path: Path,
                                                         policy: str) -> None:
    server = Server("ARCHIVE", prefer_requestor_order=True)
    archive = Archive(tmp_path / "archive", duplicates=policy)
    install(server, archive)
    async with serving(server) as port:
        assert await _store(port, _study(tmp_path / "sent", "FIRST", 1)) == [0]
        statuses = await _store(port, _study(tmp_path / "sent", "SECOND", 1))
        [(patient,)] = archive.index.execute("SELECT patient_id FROM patient")
        if policy == "reject":
            assert [int(s) for s in statuses] == [Status.DUPLICATE_SOP_INSTANCE]
            assert statuses[0].error_comment is not None
            assert "already stored" in statuses[0].error_comment
        else:
            assert [int(s) for s in statuses] == [Status.SUCCESS]
        assert patient == ("SECOND" if policy == "replace" else "FIRST")
        # The server goes on serving.
        assert await _find(port, "study", "STUDY", str(patient)) == [STUDY]
    assert len(list(archive.folder.rglob("*.dcm"))) == 1
    archive.close()

