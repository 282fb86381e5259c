"""The identifiers the query checks send (Study Root, PS3.4 C.6.2)."""

from __future__ import annotations

from pydicom import Dataset

#: The return keys a STUDY-level query asks for; each must come back in every match
#: (PS3.4 C.4.1.1.3.2), with a value or empty.
STUDY_RETURN_KEYS = ("StudyInstanceUID", "StudyDate", "StudyTime", "AccessionNumber",
                     "PatientID", "PatientName", "StudyID")


def study_identifier(**matching: str) -> Dataset:
    """A STUDY-level identifier: universal matching on every return key, except the
    ``matching`` keys given (keyword=value)."""
    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    for keyword in STUDY_RETURN_KEYS:
        setattr(ds, keyword, "")
    for keyword, value in matching.items():
        setattr(ds, keyword, value)
    return ds


def image_identifier(study: str, series: str, instance: str) -> Dataset:
    """An IMAGE-level identifier for one instance, with the unique keys of the levels
    above it as the hierarchical model wants (PS3.4 C.4.1.2.2)."""
    ds = Dataset()
    ds.QueryRetrieveLevel = "IMAGE"
    ds.StudyInstanceUID = study
    ds.SeriesInstanceUID = series
    ds.SOPInstanceUID = instance
    ds.SOPClassUID = ""
    return ds
