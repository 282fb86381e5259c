"""C-FIND matches per second for a 10,000-match query, dicomnet and DCMTK side by side.

    .venv/bin/python benchmarks/find_bench.py [--instances 10000] [--rounds 3]

Writes N small instances (one study of one series), loads them into ``dicomnet serve``
(with ``dicomnet store``) and into DCMTK's dcmqrscp (with storescu), then times an
IMAGE-level Study Root query matching all of them:

    findscu -> dcmqrscp          (the reference)
    findscu -> dicomnet serve    (dicomnet as SCP)
    dicomnet find -> dcmqrscp    (dicomnet as SCU)
    dicomnet find -> dicomnet serve

Time is the client process's wall time; best of ``--rounds``. DCMTK runs with
TCP_NODELAY=1. Loops are bounded and every process has a timeout.
"""

from __future__ import annotations

import argparse
import compileall
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pydicom
from common import dcmtk, free_port, wait_for
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

ENV = {**os.environ, "TCP_NODELAY": "1"}
PY = sys.executable
TIMEOUT = 900


def make_instances(folder: Path, count: int) -> tuple[str, str]:
    """``count`` small CT instances of one series; returns its Study and Series
    Instance UIDs."""
    template = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    del template.PixelData
    template.StudyInstanceUID = generate_uid()
    template.SeriesInstanceUID = generate_uid()
    for number in range(count):
        template.SOPInstanceUID = generate_uid()
        template.file_meta.MediaStorageSOPInstanceUID = template.SOPInstanceUID
        template.InstanceNumber = number + 1
        template.save_as(folder / f"i{number:05d}.dcm", enforce_file_format=True)
    return str(template.StudyInstanceUID), str(template.SeriesInstanceUID)


def check(args: list[str]) -> subprocess.CompletedProcess[bytes]:
    done = subprocess.run(args, env=ENV, capture_output=True, timeout=TIMEOUT, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{args[:3]} failed: {done.stderr.decode()[-800:]}")
    return done


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    import dicomnet

    compileall.compile_dir(Path(dicomnet.__file__).parent, quiet=1)
    with tempfile.TemporaryDirectory(prefix="dicomnet-find-") as tmp:
        work = Path(tmp)
        images = work / "images"
        images.mkdir()
        study, series = make_instances(images, args.instances)
        [str(p) for p in sorted(images.iterdir())]

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
            # A hierarchical IMAGE-level query names the study and series (PS3.4 C.4.1.3).
            keys = ["-k", "QueryRetrieveLevel=IMAGE", "-k", f"StudyInstanceUID={study}",
                    "-k", f"SeriesInstanceUID={series}", "-k", "SOPInstanceUID",
                    "-k", "InstanceNumber"]
            ours = ["-L", "IMAGE", "--json", "-k", f"StudyInstanceUID={study}",
                    "-k", f"SeriesInstanceUID={series}", "-k", "SOPInstanceUID=",
                    "-k", "InstanceNumber="]
            pairs = {
                "findscu -> dcmqrscp": [dcmtk("findscu"), "-S", "-aec", "QRSCP", *keys,
                                        "127.0.0.1", str(qr_port)],
                "findscu -> dicomnet serve": [dcmtk("findscu"), "-S", "-aec", "ANY", *keys,
                                              "127.0.0.1", str(serve_port)],
                "dicomnet find -> dcmqrscp": [PY, "-m", "dicomnet", "find", "-aec", "QRSCP",
                                              *ours, "127.0.0.1", str(qr_port)],
                "dicomnet find -> dicomnet serve": [PY, "-m", "dicomnet", "find",
                                                    "-aec", "ANY", *ours,
                                                    "127.0.0.1", str(serve_port)],
            }
            best = {label: float("inf") for label in pairs}
            for _round in range(args.rounds):
                for label, command in pairs.items():
                    started = time.perf_counter()
                    done = check(command)
                    best[label] = min(best[label], time.perf_counter() - started)
                    if label.startswith("dicomnet find"):
                        matches = done.stdout.count(b"\n")
                        if matches != args.instances:
                            raise RuntimeError(f"{label}: {matches} matches")
        finally:
            serve.terminate()
            qrscp.terminate()
            serve.wait(timeout=30)
            qrscp.wait(timeout=30)
    reference = args.instances / best["findscu -> dcmqrscp"]
    print(f"{args.instances} matches, best of {args.rounds}\n")
    print(f"{'pairing':34} {'matches/s':>10} {'vs DCMTK':>9}")
    for label, seconds in best.items():
        rate = args.instances / seconds
        print(f"{label:34} {rate:10.0f} {rate / reference:9.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
