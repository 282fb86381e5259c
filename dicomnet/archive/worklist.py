"""Modality Worklist items from a folder (``dicomnet serve --worklist DIR``).

Each item is a file in the folder (or below it): DICOM (``*.dcm``, or ``*.wl`` as
DCMTK's wlmscpfs keeps them) or DICOM JSON (``*.json``, PS3.18 Annex F: one data set,
or a list of them). A C-FIND of the Modality Worklist Information Model (PS3.4 K.6) is
matched against every item with the rules of PS3.4 C.2.2.2 (K.2.2.1 refers to them),
the same code as the archive's Query/Retrieve (:mod:`dicomnet.archive.matching`).

The folder is read again when a file changes (by modification time), so items can be
added and removed while the server runs; a file that cannot be read is logged and
skipped, never a failed query.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from dicomnet.archive.matching import identifier_matches, return_identifier

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

__all__ = ["SUFFIXES", "Worklist", "load_items"]

log = logging.getLogger("dicomnet.archive.worklist")

#: File name endings read as worklist items.
SUFFIXES = (".dcm", ".wl", ".json")


def load_items(path: Path) -> list[Dataset]:
    """The worklist items in one file. Raises ``ValueError`` or ``OSError`` when the
    file is not a DICOM or DICOM JSON data set."""
    import pydicom
    from pydicom.dataset import Dataset
    from pydicom.errors import InvalidDicomError

    if path.suffix.lower() == ".json":
        loaded = json.loads(path.read_text(encoding="utf-8"))
        objects = loaded if isinstance(loaded, list) else [loaded]
        if not all(isinstance(item, dict) for item in objects):
            raise ValueError("expected a DICOM JSON object or a list of them")
        items = [Dataset.from_json(item) for item in objects]
        for item in items:
            if "SpecificCharacterSet" not in item:
                # JSON text is Unicode (PS3.18 F.2): say so, or the response could not
                # carry a non-ASCII name.
                item.SpecificCharacterSet = "ISO_IR 192"
        return items
    try:
        dataset = pydicom.dcmread(path, force=path.suffix.lower() == ".wl")
    except InvalidDicomError as exc:
        raise ValueError(str(exc)) from exc
    dataset.file_meta = pydicom.dataset.FileMetaDataset()  # not part of the item
    return [dataset]


class Worklist:
    """The items of a folder, matched against worklist queries."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder).resolve()
        if not self.folder.is_dir():
            raise NotADirectoryError(f"worklist folder {self.folder} does not exist")
        self._cache: dict[Path, tuple[float, list[Dataset]]] = {}

    def items(self) -> list[Dataset]:
        """Every item, reading only the files that changed since last time."""
        seen: dict[Path, tuple[float, list[Dataset]]] = {}
        for path in sorted(self.folder.rglob("*")):
            if path.suffix.lower() not in SUFFIXES or not path.is_file():
                continue
            try:
                mtime = path.stat().st_mtime
                cached = self._cache.get(path)
                if cached is not None and cached[0] == mtime:
                    seen[path] = cached
                    continue
                seen[path] = (mtime, load_items(path))
            except (OSError, ValueError, KeyError, TypeError, AttributeError,
                    EOFError) as exc:
                log.warning("worklist item %s skipped: %s", path, exc)
        self._cache = seen
        return [item for _mtime, items in seen.values() for item in items]

    def matches(self, query: Dataset) -> Iterator[Dataset]:
        """The response identifiers for ``query`` (PS3.4 K.4.1.2.2, C.2.2.1.2): every
        item that matches all its keys, with the keys' values. Raises
        :class:`~dicomnet.archive.matching.MatchError` (a ``ValueError``: status A900)
        for a key that cannot be valid."""
        for item in self.items():
            if identifier_matches(query, item):
                yield return_identifier(query, item)
