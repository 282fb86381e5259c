"""pynetdicom's C-FIND SCU as a benchmark peer: the query of ``find_bench.py``, each
match printed as DICOM JSON (one line), as ``dicomnet find --json`` does.

    python benchmarks/pynetdicom_find.py HOST PORT CALLED_AET KEY=VALUE...
"""

from __future__ import annotations

import sys

from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataset import Dataset
from pynetdicom import AE
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind  # type: ignore[attr-defined]


def main() -> int:
    host, port, called, *keys = sys.argv[1:]
    query = Dataset()
    for key in keys:
        name, _sep, value = key.partition("=")
        tag = tag_for_keyword(name)
        assert tag is not None, name
        query.add_new(tag, dictionary_VR(tag), value)
    ae = AE(ae_title="PYNETDICOM")
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
    association = ae.associate(host, int(port), ae_title=called)
    if not association.is_established:
        print("association failed", file=sys.stderr)
        return 1
    status = None
    try:
        for status, identifier in association.send_c_find(
                query, StudyRootQueryRetrieveInformationModelFind):
            if status is not None and status.Status in (0xFF00, 0xFF01) \
                    and identifier is not None:
                print(identifier.to_json())
    finally:
        association.release()
    return 0 if status is not None and status.Status == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
