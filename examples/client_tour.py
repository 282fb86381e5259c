"""The client API service by service: echo, store, find, get, move.

    python examples/client_tour.py HOST PORT FILE... [--aec AET] [--dest AET]

Against an archive such as ``dicomnet serve --any-aet`` (add ``--peer AET=HOST:PORT``
for a C-MOVE destination), this program C-ECHOes the peer, C-STOREs the files (one by
one, then all at once through an asynchronous operations window, then one as an edited
pydicom Dataset), C-FINDs the studies of the first file's patient, stops a C-FIND of all
studies after its first match (which sends C-CANCEL), C-GETs the first file's study into a temporary
folder and, with ``--dest``, C-MOVEs it to that AE. Each step is one function: the user
guide (docs/client.md) shows them one at a time.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Sequence
from contextlib import aclosing
from pathlib import Path

import anyio
import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

import dicomnet
from dicomnet.client import ContextSpec
from dicomnet.dimse import CStoreRQ
from dicomnet.part10 import file_meta_bytes
from dicomnet.services.query_retrieve import STUDY_ROOT_FIND, STUDY_ROOT_GET, STUDY_ROOT_MOVE
from dicomnet.services.storage import answer_store, contexts_for


async def echo(host: str, port: int, called_ae: str) -> int:
    async with dicomnet.connect(host, port, called_ae=called_ae) as assoc:
        return await assoc.echo()


async def store_files(host: str, port: int, called_ae: str,
                      paths: Sequence[str | os.PathLike[str]]) -> list[int]:
    # contexts_for() reads each file's header and proposes the presentation contexts
    # the files need: each file is then streamed from disk as it is.
    async with dicomnet.connect(host, port, called_ae=called_ae,
                                contexts=contexts_for(paths)) as assoc:
        return [await assoc.store(path) for path in paths]


async def store_edited(host: str, port: int, called_ae: str, path: str) -> int:
    ds = pydicom.dcmread(path)
    ds.SOPInstanceUID = generate_uid()  # a new instance of the same study
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.SeriesDescription = "edited by client_tour.py"
    async with dicomnet.connect(host, port, called_ae=called_ae,
                                contexts=contexts_for([ds])) as assoc:
        return await assoc.store(ds)  # a Dataset is encoded in the accepted syntax


async def store_concurrently(host: str, port: int, called_ae: str,
                             paths: Sequence[str], window: int = 8) -> list[int]:
    # Propose an asynchronous operations window: up to `window` C-STOREs outstanding
    # at once on one association. store() waits for a free slot of the window the
    # peer accepted (1 if it accepted none), so starting them all is safe.
    statuses: list[int] = []
    async with dicomnet.connect(host, port, called_ae=called_ae,
                                contexts=contexts_for(paths),
                                async_window=(window, window)) as assoc:

        async def store_one(path: str) -> None:
            statuses.append(await assoc.store(path))

        async with anyio.create_task_group() as tg:
            for path in paths:
                tg.start_soon(store_one, path)
    return statuses


async def find_studies(host: str, port: int, called_ae: str,
                       patient_id: str) -> list[Dataset]:
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.PatientID = patient_id
    query.StudyInstanceUID = ""  # empty: "send me this attribute back"
    query.StudyDate = ""
    matches = []
    async with dicomnet.connect(host, port, called_ae=called_ae,
                                contexts=[STUDY_ROOT_FIND]) as assoc:
        async for response in assoc.find(query, model="study"):
            if response.status_category == dicomnet.StatusCategory.PENDING:
                assert response.dataset is not None
                matches.append(response.dataset)
            elif response.status_category != dicomnet.StatusCategory.SUCCESS:
                raise RuntimeError(f"C-FIND failed: 0x{response.status:04X}")
    return matches


async def any_study(host: str, port: int, called_ae: str) -> Dataset | None:
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.StudyInstanceUID = ""  # matches every study
    async with dicomnet.connect(host, port, called_ae=called_ae,
                                contexts=[STUDY_ROOT_FIND]) as assoc, \
            aclosing(assoc.find(query, model="study")) as responses:
        async for response in responses:
            if response.dataset is not None:
                # Leaving early: closing the iterator (aclosing) sends C-CANCEL-RQ and
                # drains the peer's remaining responses, right here.
                return response.dataset
    return None


async def get_study(host: str, port: int, called_ae: str, *, study_uid: str,
                    sop_classes: Sequence[str], folder: Path) -> dicomnet.Response:
    # C-GET: the peer sends the instances back as C-STOREs on this association. We
    # must propose their storage SOP classes with the SCP role for us, and handle the
    # incoming requests (on_request).
    async def keep(request: dicomnet.IncomingRequest) -> int:
        message = request.message
        assert isinstance(message, CStoreRQ) and request.raw_dataset is not None
        uid = message.affected_sop_instance_uid
        meta = file_meta_bytes(sop_class_uid=message.affected_sop_class_uid,
                               sop_instance_uid=uid,
                               transfer_syntax=request.context.transfer_syntax)
        # The data set exactly as received, behind a File Meta Information header.
        await anyio.Path(folder / f"{uid}.dcm").write_bytes(meta + request.raw_dataset)
        return dicomnet.Status.SUCCESS

    async def on_request(request: dicomnet.IncomingRequest) -> None:
        await answer_store(request, keep)  # sends the C-STORE-RSP with keep's status

    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.StudyInstanceUID = study_uid
    contexts: list[ContextSpec] = [STUDY_ROOT_GET, *sop_classes]
    roles = {sop_class: (True, True) for sop_class in sop_classes}  # (SCU, SCP)
    final = None
    async with dicomnet.connect(host, port, called_ae=called_ae, contexts=contexts,
                                roles=roles, on_request=on_request) as assoc:
        async for response in assoc.get(query, model="study"):
            final = response  # pending responses carry the sub-operation counts
    assert final is not None
    return final


async def move_study(host: str, port: int, called_ae: str, study_uid: str,
                     destination: str) -> dicomnet.Response:
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.StudyInstanceUID = study_uid
    final = None
    async with dicomnet.connect(host, port, called_ae=called_ae,
                                contexts=[STUDY_ROOT_MOVE]) as assoc:
        async for response in assoc.move(query, destination=destination, model="study"):
            final = response
    assert final is not None
    return final


def counts(response: dicomnet.Response) -> str:
    message = response.message
    return (f"status 0x{response.status:04X}, "
            f"{getattr(message, 'number_of_completed_suboperations', 0)} completed, "
            f"{getattr(message, 'number_of_failed_suboperations', 0)} failed")


async def tour(host: str, port: int, called_ae: str, files: list[str],
               destination: str | None) -> int:
    print(f"echo: 0x{await echo(host, port, called_ae):04X}")
    print(f"store: {[f'0x{s:04X}' for s in await store_files(host, port, called_ae, files)]}")
    window = await store_concurrently(host, port, called_ae, files)
    print(f"store with a window: {len(window)} statuses, "
          f"{sum(s == dicomnet.Status.SUCCESS for s in window)} successes")
    print(f"store edited dataset: 0x{await store_edited(host, port, called_ae, files[0]):04X}")
    first = pydicom.dcmread(files[0], stop_before_pixels=True)
    studies = await find_studies(host, port, called_ae, first.PatientID)
    print(f"find: {len(studies)} studies of patient {first.PatientID}")
    study = await any_study(host, port, called_ae)
    print(f"first study found: {study.StudyInstanceUID if study else None}")
    with tempfile.TemporaryDirectory() as folder:
        final = await get_study(host, port, called_ae, study_uid=first.StudyInstanceUID,
                                sop_classes=[first.SOPClassUID], folder=Path(folder))
        print(f"get: {counts(final)}; {len(os.listdir(folder))} files received")
    if destination:
        final = await move_study(host, port, called_ae, first.StudyInstanceUID,
                                 destination)
        print(f"move to {destination}: {counts(final)}")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("files", nargs="+", help="DICOM files to store (and then query)")
    parser.add_argument("--aec", default="DICOMNET", help="the peer's AE title")
    parser.add_argument("--dest", help="a C-MOVE destination AE title the peer knows")
    args = parser.parse_args()
    sys.exit(anyio.run(tour, args.host, args.port, args.aec, args.files, args.dest))
