"""The archive's Modality Performed Procedure Steps (PS3.4 Annex F), kept in its index.

Each step is one row of the ``mpps`` table: its status, patient and modality as
columns for a person or a query to read, and all its attributes as DICOM JSON
(PS3.18 Annex F), which keeps every value, sequences included, without a file.

:class:`IndexMPPSSCP` keeps the index work off the event loop: the state rules of
:class:`~dicomnet.services.mpps.MPPSSCP` read and write a store synchronously, so the
step is read in a reader thread before they run and written by the index's writer
thread after, one operation at a time (the rules read, then write: two at once on
one step could both see it absent).
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

import anyio

from dicomnet.archive.database import DATABASE_ERRORS
from dicomnet.dimse import Status
from dicomnet.services.mpps import MPPSSCP
from dicomnet.services.normalized import NFailure

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from pydicom.dataset import Dataset

    from dicomnet.archive.database import IndexConnection
    from dicomnet.archive.index import ArchiveIndex
    from dicomnet.archive.worker import IndexWorker
    from dicomnet.services.normalized import NormalizedRequest

__all__ = ["IndexMPPSSCP", "IndexMPPSStore"]


class IndexMPPSStore:
    """An :class:`~dicomnet.services.mpps.MPPSStore` over the archive's index (blocking:
    for threads and tools; the server uses :class:`IndexMPPSSCP`)."""

    def __init__(self, index: ArchiveIndex) -> None:
        self.index = index

    def get(self, sop_instance_uid: str) -> Dataset | None:
        from pydicom.dataset import Dataset

        text = self.index.mpps_dataset(sop_instance_uid)
        return None if text is None else Dataset.from_json(text)

    def put(self, sop_instance_uid: str, dataset: Dataset) -> None:
        modality = dataset.get("Modality", "")
        self.index.put_mpps(
            sop_instance_uid,
            status=str(dataset.get("PerformedProcedureStepStatus", "") or ""),
            patient_id=str(dataset.get("PatientID", "") or ""),
            modality=str(modality or ""),
            dataset=dataset.to_json())


def _read_step(sop_instance_uid: str, db: IndexConnection) -> Dataset | None:
    from pydicom.dataset import Dataset

    row = db.execute("SELECT dataset FROM mpps WHERE sop_instance_uid = ?",
                     (sop_instance_uid,)).fetchone()
    return None if row is None else Dataset.from_json(str(row[0]))


class _StepAtHand:
    """The store the state rules see: the one step read ahead, and the step they put."""

    def __init__(self) -> None:
        self.uid: str | None = None
        self.step: Dataset | None = None
        self.put_step: Dataset | None = None

    def get(self, sop_instance_uid: str) -> Dataset | None:
        return self.step if sop_instance_uid == self.uid else None

    def put(self, sop_instance_uid: str, dataset: Dataset) -> None:
        assert sop_instance_uid == self.uid
        self.put_step = dataset


class IndexMPPSSCP(MPPSSCP):
    """MPPS with the steps in the archive's index, read and written off the loop."""

    def __init__(self, worker: IndexWorker) -> None:
        self._at_hand = _StepAtHand()
        super().__init__(self._at_hand)
        self._worker = worker
        self._one_at_a_time = anyio.Lock()

    async def on_create(self, request: NormalizedRequest) -> int:
        return await self._with_step(request, super().on_create)

    async def on_set(self, request: NormalizedRequest) -> int:
        return await self._with_step(request, super().on_set)

    async def _with_step(self, request: NormalizedRequest,
                         operation: Callable[[NormalizedRequest], Awaitable[int]]) -> int:
        """Run the state rules of ``operation`` on the step read from the index, and
        write back what they put, one operation at a time."""
        async with self._one_at_a_time:
            await self._read(request.sop_instance_uid)
            status = await operation(request)
            await self._write()
            return status

    async def _read(self, sop_instance_uid: str) -> None:
        at_hand = self._at_hand
        at_hand.uid, at_hand.step, at_hand.put_step = sop_instance_uid, None, None
        try:
            at_hand.step = await self._worker.read(partial(_read_step, sop_instance_uid))
        except DATABASE_ERRORS as exc:
            raise NFailure(Status.PROCESSING_FAILURE, "the index cannot be read") from exc

    async def _write(self) -> None:
        at_hand = self._at_hand
        if at_hand.put_step is None or at_hand.uid is None:
            return
        store = IndexMPPSStore(self._worker.index)
        try:
            await self._worker.write(store.put, at_hand.uid, at_hand.put_step)
        except DATABASE_ERRORS as exc:
            # PS3.4 F.7.2.1.2 / F.7.2.2.2: the step was not recorded.
            raise NFailure(Status.PROCESSING_FAILURE, "the index cannot record the "
                           "step now") from exc
