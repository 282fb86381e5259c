"""The archive's Modality Performed Procedure Steps (PS3.4 Annex F), kept in its index.

Each step is one row of the ``mpps`` table: its status, patient and modality as
columns for a person or a query to read, and all its attributes as DICOM JSON
(PS3.18 Annex F), which keeps every value, sequences included, without a file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

    from dicomnet.archive.index import ArchiveIndex

__all__ = ["IndexMPPSStore"]


class IndexMPPSStore:
    """An :class:`~dicomnet.services.mpps.MPPSStore` over the archive's index."""

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
