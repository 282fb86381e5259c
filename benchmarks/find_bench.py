"""C-FIND matches per second, dicomnet, DCMTK and pynetdicom side by side, two query
shapes.

    .venv/bin/python benchmarks/find_bench.py [--instances 10000] [--studies 499]
                                              [--rounds 5]

Writes small instances (no pixel data) and loads them into ``dicomnet serve`` (with
``dicomnet store``) and into DCMTK's dcmqrscp (with storescu):

- IMAGE: ``--instances`` instances of one series; an IMAGE-level Study Root query that
  names the study and series matches all of them.
- STUDY: ``--studies`` studies of one instance each, every patient named
  ``BENCH^Pnnnnn``; a STUDY-level query with PatientName ``BENCH*`` matches them all.
  dcmqrscp keeps at most 500 studies per storage area (it deletes the oldest beyond
  that, and crashed doing so here); with the IMAGE study, 499 fill it.

Each shape is timed for these pairings (client -> server):

    findscu -> dcmqrscp          (the reference)
    findscu -> dicomnet serve    (dicomnet as SCP)
    dicomnet find -> dcmqrscp    (dicomnet as SCU, --json)
    dicomnet find -> dicomnet serve
    pynetdicom -> dcmqrscp       (pynetdicom's find SCU, printing JSON like --json)

Time is the client process's wall time; each round runs every pairing once; the table
shows the best and the median round, as ratios to the reference. The last lines say
whether each role meets its target: dicomnet at least as fast as DCMTK (best round) on
both shapes. DCMTK runs with TCP_NODELAY=1. Every process has a timeout.
"""

from __future__ import annotations

import argparse
import compileall
import os
import statistics
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
HERE = Path(__file__).resolve().parent
REFERENCE = "findscu -> dcmqrscp"
BASELINE = "baseline dicomnet find -> dcmqrscp"


def _template() -> pydicom.Dataset:
    template = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    del template.PixelData
    return template


def make_series(folder: Path, count: int) -> tuple[str, str]:
    """``count`` small CT instances of one series; returns its Study and Series
    Instance UIDs."""
    template = _template()
    template.StudyInstanceUID = generate_uid()
    template.SeriesInstanceUID = generate_uid()
    for number in range(count):
        template.SOPInstanceUID = generate_uid()
        template.file_meta.MediaStorageSOPInstanceUID = template.SOPInstanceUID
        template.InstanceNumber = number + 1
        template.save_as(folder / f"i{number:05d}.dcm", enforce_file_format=True)
    return str(template.StudyInstanceUID), str(template.SeriesInstanceUID)


def make_studies(folder: Path, count: int) -> None:
    """``count`` studies of one small instance each, each of its own patient
    ``BENCH^Pnnnnn`` with a study date spread over a year."""
    template = _template()
    for number in range(count):
        template.PatientName = f"BENCH^P{number:05d}"
        template.PatientID = f"BP{number:05d}"
        template.StudyDate = f"2024{1 + number % 12:02d}{1 + number % 28:02d}"
        template.AccessionNumber = f"A{number:06d}"
        template.StudyID = str(number % 1000)
        template.StudyInstanceUID = generate_uid()
        template.SeriesInstanceUID = generate_uid()
        template.SOPInstanceUID = generate_uid()
        template.file_meta.MediaStorageSOPInstanceUID = template.SOPInstanceUID
        template.save_as(folder / f"s{number:05d}.dcm", enforce_file_format=True)


def check(args: list[str]) -> subprocess.CompletedProcess[bytes]:
    done = subprocess.run(args, env=ENV, capture_output=True, timeout=TIMEOUT, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{args[:3]} failed: {done.stderr.decode()[-800:]}")
    return done


def pairings(qr_port: int, serve_port: int, dcmtk_keys: list[str], our_keys: list[str],
             pynetdicom_keys: list[str], *, baseline: str | None) -> dict[str, list[str]]:
    host = "127.0.0.1"
    extra = {}
    if baseline:
        # Another checkout's dicomnet (python -m dicomnet from that folder), to compare.
        extra[BASELINE] = [PY, "-c", f"import sys; sys.path.insert(0, {baseline!r}); "
                           "from dicomnet.cli.main import entry; "
                           "sys.argv[0] = 'dicomnet'; entry()",
                           "find", "-aec", "QRSCP", *our_keys, host, str(qr_port)]
    return {
        REFERENCE: [dcmtk("findscu"), "-S", "-aec", "QRSCP", *dcmtk_keys, host,
                    str(qr_port)],
        "findscu -> dicomnet serve": [dcmtk("findscu"), "-S", "-aec", "ANY", *dcmtk_keys,
                                      host, str(serve_port)],
        "dicomnet find -> dcmqrscp": [PY, "-m", "dicomnet", "find", "-aec", "QRSCP",
                                      *our_keys, host, str(qr_port)],
        "dicomnet find -> dicomnet serve": [PY, "-m", "dicomnet", "find", "-aec", "ANY",
                                            *our_keys, host, str(serve_port)],
        "pynetdicom -> dcmqrscp": [PY, str(HERE / "pynetdicom_find.py"), host, str(qr_port),
                                   "QRSCP", *pynetdicom_keys],
        **extra,
    }


def measure(pairs: dict[str, list[str]], rounds: int, expected: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {label: [] for label in pairs}
    for _round in range(rounds):
        for label, command in pairs.items():
            started = time.perf_counter()
            done = check(command)
            times[label].append(time.perf_counter() - started)
            if "findscu" not in label:
                matches = done.stdout.count(b"\n")
                if matches != expected:
                    raise RuntimeError(f"{label}: {matches} matches, not {expected}")
    return times


def report(title: str, expected: int,
           times: dict[str, list[float]]) -> dict[str, tuple[float, float]]:
    """Print one shape's table; return each pairing's (best, median) ratio to DCMTK."""
    reference = times[REFERENCE]
    best_ref, median_ref = min(reference), statistics.median(reference)
    print(f"\n{title}: {expected} matches, {len(reference)} rounds")
    print(f"{'pairing':34} {'best/s':>9} {'median/s':>9} {'best x':>7} {'median x':>9}")
    ratios = {}
    for label, seconds in times.items():
        best, median = min(seconds), statistics.median(seconds)
        ratios[label] = (best_ref / best, median_ref / median)
        print(f"{label:34} {expected / best:9.0f} {expected / median:9.0f} "
              f"{ratios[label][0]:7.2f} {ratios[label][1]:9.2f}")
    return ratios


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, default=10_000)
    parser.add_argument("--studies", type=int, default=499)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--baseline", metavar="DIR",
                        help="also time `dicomnet find` from this checkout of dicomnet")
    args = parser.parse_args()
    import dicomnet

    compileall.compile_dir(Path(dicomnet.__file__).parent, quiet=1)
    with tempfile.TemporaryDirectory(prefix="dicomnet-find-") as tmp:
        work = Path(tmp)
        images = work / "images"
        images.mkdir()
        study, series = make_series(images, args.instances)
        make_studies(images, args.studies)

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
            f"AETable BEGIN\nQRSCP {database} RW (500, 1024mb) ANY\nAETable END\n")
        qrscp = subprocess.Popen([dcmtk("dcmqrscp"), "-c", str(config)], env=ENV,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        results = {}
        try:
            wait_for(serve_port, serve)
            wait_for(qr_port, qrscp)
            check([PY, "-m", "dicomnet", "store", "-q", "-aec", "ANY", "127.0.0.1",
                   str(serve_port), str(images)])
            check([dcmtk("storescu"), "-aec", "QRSCP", "+sd", "127.0.0.1", str(qr_port),
                   str(images)])
            # A hierarchical IMAGE-level query names the study and series (PS3.4 C.4.1.3).
            image = [f"StudyInstanceUID={study}", f"SeriesInstanceUID={series}",
                     "SOPInstanceUID=", "InstanceNumber="]
            pairs = pairings(
                qr_port, serve_port,
                ["-k", "QueryRetrieveLevel=IMAGE", *_flags("-k", image, dcmtk_style=True)],
                ["-L", "IMAGE", "--json", *_flags("-k", image)],
                ["QueryRetrieveLevel=IMAGE", *image], baseline=args.baseline)
            results["IMAGE"] = report("IMAGE level, one series", args.instances,
                                      measure(pairs, args.rounds, args.instances))
            studies = ["PatientName=BENCH*", "PatientID=", "StudyDate=", "StudyTime=",
                       "AccessionNumber=", "StudyID=", "StudyInstanceUID="]
            pairs = pairings(
                qr_port, serve_port,
                ["-k", "QueryRetrieveLevel=STUDY", *_flags("-k", studies, dcmtk_style=True)],
                ["-L", "STUDY", "--json", *_flags("-k", studies)],
                ["QueryRetrieveLevel=STUDY", *studies], baseline=args.baseline)
            results["STUDY"] = report("STUDY level, PatientName wildcard", args.studies,
                                      measure(pairs, args.rounds, args.studies))
        finally:
            serve.terminate()
            qrscp.terminate()
            serve.wait(timeout=30)
            qrscp.wait(timeout=30)
    print()
    for role, label in (("client", "dicomnet find -> dcmqrscp"),
                        ("server", "findscu -> dicomnet serve")):
        met = all(ratios[label][0] >= 1.0 for ratios in results.values())
        shown = ", ".join(f"{shape} {ratios[label][0]:.2f}x best / {ratios[label][1]:.2f}x "
                          f"median" for shape, ratios in results.items())
        print(f"{role} ({label} vs {REFERENCE}): {shown}: "
              f"target {'met' if met else 'NOT met'}")
    return 0


def _flags(flag: str, keys: list[str], *, dcmtk_style: bool = False) -> list[str]:
    """``-k KEY=VALUE`` per key; findscu asks for an attribute back with ``-k KEY``
    (no ``=``)."""
    out = []
    for key in keys:
        out += [flag, key.removesuffix("=") if dcmtk_style else key]
    return out


if __name__ == "__main__":
    sys.exit(main())
