"""A Study Root C-FIND SCP for the matching group of ``dicomnet check``, built on
dicomnet's own matching (dicomnet.archive.matching), with one flag per broken rule of
PS3.4 C.2.2.2 / C.4.1.2.1 (a Server with no flag set breaks none)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from pydicom import Dataset
from pydicom.uid import generate_uid

from dicomnet import IncomingRequest, Server
from dicomnet.archive.matching import identifier_matches, return_identifier

#: The Code Values of each study's Procedure Code Sequence (the fourth has none).
PROCEDURES = (("P1", "P2"), ("P2",), ("P3",), ())


def _code(value: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = "99DNCHK"
    item.CodeMeaning = f"procedure {value}"
    return item


def held_series() -> list[Dataset]:
    """Four studies on four dates, two series each: one SERIES-level record per
    series, carrying its study's attributes too."""
    records = []
    for number, date in enumerate(["20250101", "20250601", "20260101", "20260601"], 1):
        study_uid = generate_uid()
        for series_number in (1, 2):
            ds = Dataset()
            ds.PatientID = f"PAT{number:04d}"
            ds.PatientName = ["DOE^A", "SMITH^B", "DOLAN^C", "ROE^D"][number - 1]
            ds.StudyInstanceUID = study_uid
            ds.StudyDate = date
            ds.StudyTime = "120000"
            ds.AccessionNumber = f"A{number}"
            ds.StudyID = str(number)
            ds.StudyDescription = "" if number == 2 else f"study {number}"
            ds.SeriesInstanceUID = generate_uid()
            ds.Modality = "CT"
            ds.SeriesNumber = str(series_number)
            ds.ProcedureCodeSequence = [_code(value) for value in PROCEDURES[number - 1]]
            records.append(ds)
    return records


#: The SERIES-level keys of the records (PS3.4 Table C.6-6): at STUDY level a study has
#: none of its own, so they take no part in matching (PS3.4 C.4.1.3.1.1).
SERIES_KEYS = ("SeriesInstanceUID", "Modality", "SeriesNumber")


def matching_server(*, ignore_range: bool = False, first_uid_only: bool = False,
                    drop_empty_key: bool = False, other_series: bool = False,
                    ignore_name: bool = False, series_keys_at_study: bool = False,
                    whole_sequence: bool = False) -> Server:
    """``ignore_range``: a date range matches everything; ``first_uid_only``: a UID
    list is read as its first UID; ``drop_empty_key``: Study Description is left out of
    the answer; ``other_series``: at SERIES level the Study Instance UID is ignored;
    ``ignore_name``: Patient's Name is not matched; ``series_keys_at_study``: a
    SERIES-level key in a STUDY-level query narrows the studies to those with such a
    series (a relational query nobody negotiated); ``whole_sequence``: a study matching
    a Procedure Code Sequence key comes back with all its items, matching or not."""
    server = Server("BROKEN")
    records = held_series()

    @server.on_find()
    async def find(request: IncomingRequest) -> AsyncIterator[Dataset]:
        assert request.dataset is not None
        query = request.dataset
        level = str(query.get("QueryRetrieveLevel", "STUDY"))
        keys = Dataset()
        keys.update(query)
        if ignore_range and "-" in str(keys.get("StudyDate", "")):
            keys.StudyDate = ""
        uids = keys.get("StudyInstanceUID")
        if first_uid_only and uids is not None and not isinstance(uids, str):
            keys.StudyInstanceUID = uids[0] if len(uids) else ""
        if ignore_name:
            keys.PatientName = ""
        if other_series and level == "SERIES":
            keys.StudyInstanceUID = ""
        if level == "STUDY" and not series_keys_at_study:
            for keyword in SERIES_KEYS:
                if keyword in keys:
                    delattr(keys, keyword)
        seen: set[str] = set()
        for record in records:
            unit = record.StudyInstanceUID if level == "STUDY" else record.SeriesInstanceUID
            if unit in seen or not identifier_matches(keys, record):
                continue
            seen.add(unit)
            answer = return_identifier(query, record)
            if whole_sequence and "ProcedureCodeSequence" in query:
                answer.ProcedureCodeSequence = record.ProcedureCodeSequence
            if drop_empty_key and "StudyDescription" in answer:
                del answer.StudyDescription
            yield answer

    return server


__all__ = ["SERIES_KEYS", "held_series", "matching_server"]
