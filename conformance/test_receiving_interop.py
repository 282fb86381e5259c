"""``dicomnet get`` against DCMTK's dcmqrscp: classes beyond the old hand list (X-Ray
Radiation Dose SR, in most CT studies) are proposed, and the storage contexts, with a
context per compressed syntax and ~200 classes over several associations, are ones
dcmqrscp accepts.

dcmqrscp sends each sub-operation on the FIRST accepted context of the instance's class
and converts to its syntax (it cannot compress or decompress JPEG 2000 without codecs):
the per-syntax contexts help peers that choose by syntax (Orthanc, dicomnet serve), not
dcmqrscp; there, uncompressed first is what keeps uncompressed instances working."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from dicomnet.part10 import dataset_bytes
from dicomnet.testing import Process, dcmtk_binary, dicomnet_command, run

pytestmark = pytest.mark.interop

DOSE_SR = "1.2.840.10008.5.1.4.1.1.88.67"


def _dose_sr(folder: Path, study: str) -> Path:
    ds = Dataset()
    ds.SOPClassUID = DOSE_SR
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID = study
    ds.SeriesInstanceUID = generate_uid()
    ds.PatientID = "DOSE1"
    ds.PatientName = "Dose^Report"
    ds.Modality = "SR"
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    path = folder / "dose.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path


def test_dicomnet_get_receives_ct_and_dose_sr(tmp_path: Path,
                                            dcmqrscp: Callable[..., Process]) -> None:
    ct = Path(str(get_testdata_file("CT_small.dcm")))
    study = str(pydicom.dcmread(ct, stop_before_pixels=True).StudyInstanceUID)
    dose = _dose_sr(tmp_path, study)
    # +xw: dcmqrscp accepts JPEG 2000 contexts too, so the C-GET association has
    # compressed contexts accepted next to the uncompressed ones.
    server = dcmqrscp("QRSCP", options=("+xw",))
    port = server.port
    try:
        for args in ([str(ct)], [str(dose)]):
            done = run([dcmtk_binary("storescu"), "-aec", "QRSCP", "127.0.0.1", str(port),
                        *args])
            assert done.returncode == 0, done.output
        out = tmp_path / "got"
        done = run(dicomnet_command("get", "-aec", "QRSCP", "127.0.0.1", str(port),
                                    "-L", "STUDY", "-k", f"StudyInstanceUID={study}",
                                    "-o", str(out)))
        assert done.returncode == 0, done.output
    finally:
        server.stop()
    # dcmqrscp rewrites some elements as it files a data set: compare what it cannot.
    received = {header.sop_instance_uid: header.transfer_syntax
                for header, _data in map(dataset_bytes, out.glob("*.dcm"))}
    expected = {header.sop_instance_uid: header.transfer_syntax
                for header, _data in map(dataset_bytes, (ct, dose))}
    assert received == expected
