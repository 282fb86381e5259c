"""Valid test instances to store, made from pydicom's own test files with new UIDs.

Each call gives new SOP Instance UIDs, so a test never collides with an instance that an
archive (or a previous run against a long-lived peer) already holds; study and series
UIDs are shared by the instances of one call unless given.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

__all__ = ["KINDS", "data_sets_by_instance", "make_instance", "write_instances"]

#: The kinds of instance on offer: pydicom's test file each is made from.
KINDS = {"CT": "CT_small.dcm", "MR": "MR_small.dcm", "SC": "SC_rgb.dcm",
         "RTPLAN": "rtplan.dcm"}


def make_instance(kind: str = "CT", **attributes: str) -> Dataset:
    """A new instance of ``kind`` (see :data:`KINDS`) with a new SOP Instance UID (and
    study and series UIDs) and ``attributes`` (keyword=value) set; its File Meta agrees
    with it, so it can be saved as a Part 10 file or sent as it is."""
    import pydicom
    from pydicom.data import get_testdata_file
    from pydicom.uid import generate_uid

    if kind not in KINDS:
        raise ValueError(f"no instance kind {kind!r}; one of {', '.join(KINDS)}")
    dataset = pydicom.dcmread(str(get_testdata_file(KINDS[kind])))
    dataset.StudyInstanceUID = generate_uid()
    dataset.SeriesInstanceUID = generate_uid()
    dataset.SOPInstanceUID = generate_uid()
    for keyword, value in attributes.items():
        setattr(dataset, keyword, value)
    dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    dataset.file_meta.MediaStorageSOPClassUID = dataset.SOPClassUID
    return dataset


def write_instances(folder: Path, count: int, kind: str = "CT", **attributes: str
                    ) -> list[Path]:
    """``count`` instances of one new series (``folder/<kind>-<n>.dcm``), each with its
    own SOP Instance UID; ``attributes`` as for :func:`make_instance`."""
    from pydicom.uid import generate_uid

    folder.mkdir(parents=True, exist_ok=True)
    shared = {"StudyInstanceUID": generate_uid(), "SeriesInstanceUID": generate_uid(),
              **attributes}
    paths = []
    for number in range(count):
        dataset = make_instance(kind, InstanceNumber=str(number + 1), **shared)
        path = folder / f"{kind}-{number + 1:04d}.dcm"
        dataset.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def data_sets_by_instance(folder: Path, names: str = "*.dcm", *,
                          skip_others: bool = False) -> dict[str, bytes]:
    """SOP Instance UID -> data set bytes (what follows the File Meta) of every Part 10
    file under ``folder`` whose name matches ``names`` ("*" for a tool that names its
    files its own way): what a peer received, to compare byte for byte with what was
    sent. A matching file that is not Part 10 raises, unless ``skip_others`` (a peer's
    own index or temporary files beside the instances)."""
    from dicomnet.part10 import dataset_bytes

    found = {}
    for path in folder.rglob(names):
        if not path.is_file():
            continue
        try:
            header, data = dataset_bytes(path)
        except Exception:
            if skip_others:
                continue
            raise
        found[header.sop_instance_uid] = data
    return found
