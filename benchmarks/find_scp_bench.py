"""C-FIND as an SCP: findscu -> dicomnet serve against findscu -> dcmqrscp, two query
shapes side by side in one run.

    .venv/bin/python benchmarks/find_scp_bench.py [--instances 10000] [--rounds 3]

Writes N small instances: half in one series of one study, half spread over 450
studies (dcmqrscp keeps at most 500; fifty patients, dates over three years). Loads
them into ``dicomnet serve`` and DCMTK's dcmqrscp, then times, with DCMTK's findscu
as the client:

    IMAGE  one series, every instance of it (a hierarchical query naming study and series)
    STUDY  a wild card Patient's Name and a Study Date range over all studies

Time is findscu's wall time; best of ``--rounds``. DCMTK runs with TCP_NODELAY=1.
Every process has a timeout.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pydicom
from common import dcmtk, free_port, wait_for
from find_bench import ENV, PY, check
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

#: dcmqrscp keeps at most 500 studies in a storage area (DCMTK's DB_UpperMaxStudies).
STUDIES = 450


def make_instances(folder: Path, count: int) -> tuple[str, str, int]:
    """``count`` small CT instances: half of them one series, the others spread over
    :data:`STUDIES` studies; returns the series' Study and Series Instance UIDs and
    how many studies the STUDY query matches."""
    template = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    del template.PixelData
    study, series = generate_uid(), generate_uid()
    in_series = count // 2
    studies = [(generate_uid(), generate_uid()) for _ in range(STUDIES)]
    matching = set()
    for number in range(count):
        if number < in_series:
            template.StudyInstanceUID, template.SeriesInstanceUID = study, series
            template.StudyDate = "20190101"
        else:
            index = number % STUDIES
            patient = index % 50  # one name per Patient ID, as in any sound archive
            template.StudyInstanceUID, template.SeriesInstanceUID = studies[index]
            template.PatientID = f"P{patient}"
            template.PatientName = ("ROE^JANE" if patient % 3 == 0 else "DOE^JOHN") + \
                f"^{patient}"
            template.StudyDate = f"{2019 + index % 3}{1 + index % 12:02d}15"
            template.StudyDescription = f"CT HEAD {index}"
            if patient % 3 and template.StudyDate.startswith(("2020", "2021")):
                matching.add(index)
        template.SOPInstanceUID = generate_uid()
        template.file_meta.MediaStorageSOPInstanceUID = template.SOPInstanceUID
        template.InstanceNumber = number + 1
        template.save_as(folder / f"i{number:05d}.dcm", enforce_file_format=True)
    return study, series, len(matching)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dicomnet-findscp-") as tmp:
        work = Path(tmp)
        images = work / "images"
        images.mkdir()
        study, series, matching = make_instances(images, args.instances)
        serve_port = free_port()
        serve = subprocess.Popen([PY, "-m", "dicomnet", "serve", "--port", str(serve_port),
                                  "--any-aet", "--data", str(work / "archive"), "-q"],
                                 env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        qr_port = free_port()
        database = work / "qrdb"
        database.mkdir()
        config = work / "dcmqrscp.cfg"
        config.write_text(
            f"NetworkTCPPort = {qr_port}\nMaxPDUSize = 16384\nMaxAssociations = 16\n\n"
            "HostTable BEGIN\nHostTable END\n\nVendorTable BEGIN\nVendorTable END\n\n"
            f"AETable BEGIN\nQRSCP {database} RW (100000, 4096mb) ANY\nAETable END\n")
        qrscp = subprocess.Popen([dcmtk("dcmqrscp"), "-c", str(config)], env=ENV,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for(serve_port, serve)
            wait_for(qr_port, qrscp)
            check([PY, "-m", "dicomnet", "store", "-q", "-aec", "ANY", "127.0.0.1",
                   str(serve_port), str(images)])
            check([dcmtk("storescu"), "-aec", "QRSCP", "+sd", "127.0.0.1", str(qr_port),
                   str(images)])
            shapes = {
                "IMAGE": (args.instances // 2, [
                    "-k", "QueryRetrieveLevel=IMAGE", "-k", f"StudyInstanceUID={study}",
                    "-k", f"SeriesInstanceUID={series}", "-k", "SOPInstanceUID",
                    "-k", "InstanceNumber"]),
                "STUDY": (matching, [
                    "-k", "QueryRetrieveLevel=STUDY", "-k", "StudyInstanceUID",
                    "-k", "PatientName=DOE*", "-k", "PatientID",
                    "-k", "StudyDate=20200101-20211231", "-k", "StudyDescription"]),
            }
            servers = {"dcmqrscp": ("QRSCP", qr_port), "dicomnet serve": ("ANY", serve_port)}
            best: dict[tuple[str, str], float] = {}
            for _round in range(args.rounds):
                for shape, (_expected, keys) in shapes.items():
                    for name, (title, port) in servers.items():
                        command = [dcmtk("findscu"), "-S", "-aec", title, *keys,
                                   "127.0.0.1", str(port)]
                        started = time.perf_counter()
                        check(command)
                        elapsed = time.perf_counter() - started
                        best[shape, name] = min(best.get((shape, name), elapsed), elapsed)
            # Both servers find what the data holds (dicomnet's client counts).
            for title, port in servers.values():
                for shape, (expected, keys) in shapes.items():
                    ours = ["-L", shape, "--json"]
                    for key in keys:
                        if key != "-k" and not key.startswith("QueryRetrieveLevel"):
                            ours += ["-k", key if "=" in key else key + "="]
                    done = check([PY, "-m", "dicomnet", "find", "-aec", title, *ours,
                                  "127.0.0.1", str(port)])
                    found = done.stdout.count(b"\n")
                    if found != expected:
                        raise RuntimeError(f"{title} {shape}: {found} matches, not {expected}")
        finally:
            serve.terminate()
            qrscp.terminate()
            serve.wait(timeout=30)
            qrscp.wait(timeout=30)
    print(f"findscu as the client, best of {args.rounds}\n")
    print(f"{'query':8} {'matches':>8} {'dcmqrscp s':>11} {'serve s':>9} {'serve vs DCMTK':>15}")
    for shape, (expected, _keys) in shapes.items():
        reference, ours = best[shape, "dcmqrscp"], best[shape, "dicomnet serve"]
        print(f"{shape:8} {expected:8} {reference:11.3f} {ours:9.3f} {reference / ours:15.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
