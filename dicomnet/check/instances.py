"""Small valid instances for the storage checks, made from nothing.

Each instance gets its own patient and study, so that the query checks that follow a
``--store`` run have studies to tell apart. The patient is made up (``CHECK^DICOMNET``)
and its ID says where it came from.
"""

from __future__ import annotations

import datetime
import secrets

from pydicom import Dataset
from pydicom.uid import generate_uid

from dicomnet.check.sop_classes import CT, MR, SC

#: Modality of each SOP class the checks store (PS3.3 C.7.3.1).
MODALITIES = {CT: "CT", MR: "MR", SC: "OT"}
_SIDE = 8


def run_tag() -> str:
    """A short random tag that sets one run's patients apart from another's."""
    return secrets.token_hex(3).upper()


def make_instance(sop_class: str, patient_id: str) -> Dataset:
    """An 8x8 16-bit monochrome image of ``sop_class`` in a study of its own."""
    now = datetime.datetime.now()
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.StudyDate = now.strftime("%Y%m%d")
    ds.StudyTime = now.strftime("%H%M%S")
    ds.AccessionNumber = ""
    ds.Modality = MODALITIES.get(sop_class, "OT")
    ds.ReferringPhysicianName = ""
    ds.PatientName = "CHECK^DICOMNET"
    ds.PatientID = patient_id
    ds.PatientBirthDate = ""
    ds.PatientSex = "O"
    ds.StudyID = "1"
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    if sop_class == SC:
        ds.ConversionType = "WSD"
    if sop_class in (CT, MR):
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.FrameOfReferenceUID = generate_uid()
        ds.PositionReferenceIndicator = ""
        ds.ImagePositionPatient = [0, 0, 0]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing = [1, 1]
        ds.SliceThickness = 1
    if sop_class == CT:
        ds.RescaleIntercept = 0
        ds.RescaleSlope = 1
        ds.KVP = ""
        ds.AcquisitionNumber = 1
    if sop_class == MR:
        ds.ScanningSequence = "SE"
        ds.SequenceVariant = "NONE"
        ds.ScanOptions = ""
        ds.MRAcquisitionType = "2D"
        ds.EchoTime = 10
        ds.RepetitionTime = 500
        ds.EchoTrainLength = 1
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = _SIDE
    ds.Columns = _SIDE
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.PixelData = bytes(range(_SIDE * _SIDE)) * 2
    ds["PixelData"].VR = "OW"
    return ds
