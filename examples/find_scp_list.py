"""A C-FIND SCP that answers from a plain Python list.

    python examples/find_scp_list.py [--host 127.0.0.1] [--port 11112] [--aet FINDSCP]

The "database" is a list of dicts, one per study. Each query is matched against it
with the PS3.4 C.2.2.2 matching rules of :mod:`dicomnet.archive.matching` (wild cards,
date ranges, lists of UIDs, case-insensitive person names) and each match comes back
with only the attributes the query asked for. Try it with DCMTK::

    findscu -S -aec FINDSCP 127.0.0.1 11112 -k QueryRetrieveLevel=STUDY \\
        -k "PatientName=DOE*" -k StudyDate= -k StudyInstanceUID=

or with ``dicomnet find -aec FINDSCP 127.0.0.1 11112 -k "PatientName=DOE*" -k StudyDate=``.
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from typing import Any

import anyio
from pydicom.dataset import Dataset

import dicomnet
from dicomnet.archive.matching import identifier_matches, return_identifier

STUDIES: list[dict[str, Any]] = [
    {"PatientName": "DOE^JOHN", "PatientID": "P001", "StudyDate": "20240105",
     "StudyDescription": "CT CHEST", "ModalitiesInStudy": "CT",
     "StudyInstanceUID": "1.2.826.0.1.3680043.8.498.1001"},
    {"PatientName": "DOE^JANE", "PatientID": "P002", "StudyDate": "20240312",
     "StudyDescription": "MR BRAIN", "ModalitiesInStudy": "MR",
     "StudyInstanceUID": "1.2.826.0.1.3680043.8.498.1002"},
    {"PatientName": "ROE^RICHARD", "PatientID": "P003", "StudyDate": "20231120",
     "StudyDescription": "XR KNEE", "ModalitiesInStudy": "CR",
     "StudyInstanceUID": "1.2.826.0.1.3680043.8.498.1003"},
]


def as_dataset(record: dict[str, Any]) -> Dataset:
    """A record as a pydicom Dataset (keywords become attributes)."""
    ds = Dataset()
    for keyword, value in record.items():
        setattr(ds, keyword, value)
    return ds


def build_server(ae_title: str, studies: list[dict[str, Any]]) -> dicomnet.Server:
    records = [as_dataset(study) for study in studies]
    server = dicomnet.Server(ae_title)

    async def find(request: dicomnet.IncomingRequest) -> AsyncIterator[Dataset]:
        query = request.dataset
        assert query is not None  # dicomnet answers A900 itself when there is none
        if query.get("QueryRetrieveLevel") != "STUDY":
            # A ValueError from the handler is answered A900 (identifier does not
            # match the SOP class); this list only knows studies.
            raise ValueError("only STUDY level queries are supported")
        for record in records:
            if request.cancelled.is_set():  # the peer sent C-CANCEL
                return
            # MatchError (a ValueError) for a malformed key: answered A900 too.
            if identifier_matches(query, record):
                yield return_identifier(query, record)

    server.on_find()(find)
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=11112)
    parser.add_argument("--aet", default="FINDSCP", help="our AE title (default FINDSCP)")
    args = parser.parse_args()
    server = build_server(args.aet, STUDIES)
    anyio.run(server.serve, args.host, args.port)


if __name__ == "__main__":
    main()
