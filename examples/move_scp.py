"""A C-MOVE (and C-GET) SCP serving the DICOM files of a folder.

    python examples/move_scp.py FOLDER [--port 11112] [--aet MOVESCP] \\
        --dest STORESCP=127.0.0.1:11113 [--dest AET=HOST:PORT ...]

At start-up every Part 10 file under FOLDER is read once (without its pixel data) into
a small in-memory index. A C-MOVE or C-GET request is matched against that index with
the PS3.4 C.2.2.2 rules of :mod:`dicomnet.archive.matching`, and the handler yields the
paths of the matching files; dicomnet streams each to the destination as a C-STORE
sub-operation and reports the sub-operation counts. Move destinations are the AE titles
given with ``--dest``; any other is refused with A801 (Move Destination unknown).

Try it with DCMTK (a storescp as the destination)::

    storescp -od received 11113 &
    movescu -S -aec MOVESCP -aem STORESCP 127.0.0.1 11112 \\
        -k QueryRetrieveLevel=STUDY -k StudyInstanceUID=1.2.3...
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import anyio
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

import dicomnet
from dicomnet.archive.matching import identifier_matches


@dataclass
class Instance:
    path: Path
    attributes: Dataset  # the file's data set without pixel data, for matching


def load_folder(folder: Path) -> list[Instance]:
    """Every readable DICOM file under ``folder``."""
    instances = []
    for path in sorted(folder.rglob("*")):
        if not path.is_file():
            continue
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
        except (InvalidDicomError, OSError):
            continue
        instances.append(Instance(path, ds))
    return instances


def build_server(ae_title: str, instances: list[Instance],
                 destinations: dict[str, tuple[str, int]]) -> dicomnet.Server:
    server = dicomnet.Server(ae_title)

    async def retrieve(request: dicomnet.IncomingRequest) -> AsyncIterator[Path]:
        query = request.dataset
        if query is None:
            return
        # Every instance carries its patient, study and series attributes, so matching
        # the keys against instances gives the instances below the matching entities.
        for instance in instances:
            if identifier_matches(query, instance.attributes):
                yield instance.path

    # destinations.get: AE title -> (host, port), or None for "unknown" (A801).
    server.on_move(destinations=destinations.get)(retrieve)
    # The same handler answers C-GET: the files go back on the requestor's association.
    server.on_get()(retrieve)
    return server


def parse_destination(text: str) -> tuple[str, tuple[str, int]]:
    title, _, address = text.partition("=")
    host, _, port = address.rpartition(":")
    if not (title and host and port.isdigit()):
        raise argparse.ArgumentTypeError(f"expected AET=HOST:PORT, got {text!r}")
    return title, (host, int(port))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="folder of DICOM files to serve")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=11112)
    parser.add_argument("--aet", default="MOVESCP", help="our AE title (default MOVESCP)")
    parser.add_argument("--dest", type=parse_destination, action="append", default=[],
                        metavar="AET=HOST:PORT", help="a move destination; repeatable")
    args = parser.parse_args()
    instances = load_folder(args.folder)
    print(f"serving {len(instances)} instances from {args.folder}", flush=True)
    server = build_server(args.aet, instances, dict(args.dest))
    anyio.run(server.serve, args.host, args.port)


if __name__ == "__main__":
    main()
