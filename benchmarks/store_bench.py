"""C-STORE throughput, side by side: DCMTK, dicomnet and pynetdicom on 127.0.0.1.

    .venv/bin/python benchmarks/store_bench.py [--images 500] [--rounds 10] [--cold]
                                               [--baseline DIR]

Sends N CT-sized images (512x512, 16 bit, ~0.5 MB each, Explicit VR Little Endian) in
one association per run, for each pairing:

    storescu -> storescp         (the reference: ratios are to this)
    storescu -> dicomnet serve   (dicomnet as server)
    dicomnet store -> storescp   (dicomnet as client)
    dicomnet store -> dicomnet serve
    pynetdicom -> pynetdicom

Every server writes the files to disk (storescp -B -od, dicomnet serve --data, pynetdicom
handler writing the raw data set). Time is the client process's wall time, start-up
included, best of ``--rounds`` (and, as a check on luck, the ratio of the medians).
Ten rounds by default: on a shared VM one pairing's time moves by 20% from run to run,
and with five rounds a single lucky round of one pairing decided its ratio.
DCMTK runs with TCP_NODELAY=1, its best (without it every
response waits for a delayed ACK); all peers use their
default max PDU unless stated. Each loop is bounded in count and every process in time.

``--baseline DIR`` adds the three dicomnet pairings run from another checkout's
``dicomnet`` (DIR holds its ``dicomnet/`` package, e.g. a ``git worktree`` of an older
commit), in the same rounds: a change's effect, side by side, on the same machine
state.

``--cold`` drops the page cache before every run (root on Linux), so each client reads
the images from disk, as when sending studies stored some time ago; without it the
images are in memory (just written), the most favourable case for every client.
"""

from __future__ import annotations

import argparse
import compileall
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pydicom
from common import dcmtk, free_port, memory_kib, wait_for
from pydicom.data import get_testdata_file
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

ENV = {**os.environ, "TCP_NODELAY": "1"}
PY = sys.executable
TIMEOUT = 600

PYNETDICOM_SCP = r"""
import sys
from pynetdicom import AE, AllStoragePresentationContexts, evt
out = sys.argv[2]
def on_store(event):
    uid = event.request.AffectedSOPInstanceUID
    with open(f"{out}/{uid}.dcm", "wb") as f:
        f.write(event.encoded_dataset())  # preamble, file meta and the raw data set
    return 0
ae = AE(ae_title="PYNETSCP")
ae.maximum_associations = 50
for c in AllStoragePresentationContexts:
    ae.add_supported_context(c.abstract_syntax, ["1.2.840.10008.1.2.1", "1.2.840.10008.1.2"])
ae.start_server(("127.0.0.1", int(sys.argv[1])), evt_handlers=[(evt.EVT_C_STORE, on_store)])
"""

PYNETDICOM_SCU = r"""
import sys, glob
from pydicom import dcmread
from pynetdicom import AE
files = sorted(glob.glob(sys.argv[2] + "/*.dcm"))
ae = AE(ae_title="PYNETSCU")
ae.add_requested_context("1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.1.2.1")
assoc = ae.associate("127.0.0.1", int(sys.argv[1]), ae_title="ANY")
assert assoc.is_established
for f in files:
    status = assoc.send_c_store(dcmread(f))
    assert status.Status == 0, status
assoc.release()
"""


def make_images(folder: Path, count: int) -> list[Path]:
    template = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    pixels = bytes(b & 0x0F if i % 2 else b
                   for i, b in enumerate(random.Random(7).randbytes(512 * 512 * 2)))
    template.Rows = template.Columns = 512
    template.BitsAllocated, template.BitsStored, template.HighBit = 16, 12, 11
    template.PixelRepresentation = 0
    template.PixelData = pixels  # 12 bits stored, little endian
    template.StudyInstanceUID = generate_uid()
    template.SeriesInstanceUID = generate_uid()
    template.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    paths = []
    for number in range(count):
        template.SOPInstanceUID = generate_uid()
        template.file_meta.MediaStorageSOPInstanceUID = template.SOPInstanceUID
        template.InstanceNumber = number + 1
        path = folder / f"ct{number:04d}.dcm"
        template.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


#: Where a "baseline" kind's dicomnet package comes from (--baseline), when given.
BASELINE: dict[str, str] = {}


def env_for(kind: str) -> dict[str, str]:
    """The environment of a process of ``kind``: a baseline kind imports dicomnet from
    the baseline checkout, ahead of the installed one."""
    if kind == "baseline":
        return {**ENV, "PYTHONPATH": BASELINE["dir"]}
    return ENV


def start_server(kind: str, port: int, out: Path) -> subprocess.Popen[bytes]:
    out.mkdir(parents=True, exist_ok=True)
    serve = [PY, "-m", "dicomnet", "serve", "--port", str(port), "--any-aet",
             "--data", str(out), "-q"]
    commands = {
        "storescp": [dcmtk("storescp"), "-B", "-od", str(out), str(port)],
        "dicomnet": serve,
        "baseline": serve,
        "pynetdicom": [PY, "-c", PYNETDICOM_SCP, str(port), str(out)],
    }
    # Not in the checkout: "python -m" puts the working folder first on sys.path.
    process = subprocess.Popen(commands[kind], env=env_for(kind), cwd=out,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(port, process)
    return process


def client_command(kind: str, port: int, folder: Path) -> list[str]:
    if kind == "storescu":
        return [dcmtk("storescu"), "-aec", "ANY", "+sd", "127.0.0.1", str(port), str(folder)]
    if kind in ("dicomnet", "baseline"):
        return [PY, "-m", "dicomnet", "store", "-aec", "ANY", "-q", "127.0.0.1", str(port),
                str(folder)]
    return [PY, "-c", PYNETDICOM_SCU, str(port), str(folder)]


def drop_page_cache() -> None:
    """Empty the page cache (Linux, root): the next reads of the images go to disk."""
    with open("/proc/sys/vm/drop_caches", "w") as control:
        control.write("1\n")


def run_once(client: str, server: str, folder: Path, count: int, *, work: Path,
             attempt: int, cold: bool) -> tuple[float, int]:
    """One timed run of a pairing: (client wall seconds, server peak RSS KiB)."""
    os.sync()  # start with no dirty pages from the previous run being written back
    port = free_port()
    out = work / f"{client}-{server}-{attempt}"
    process = start_server(server, port, out)
    if cold:
        drop_page_cache()  # after the server started: its own start-up is not timed
    command = client_command(client, port, folder)  # its PATH lookup is not timed
    try:
        started = time.perf_counter()
        done = subprocess.run(command, env=env_for(client), cwd=work,
                              capture_output=True, timeout=TIMEOUT, check=False)
        elapsed = time.perf_counter() - started
        peak = memory_kib(process.pid, "VmHWM")
        if done.returncode != 0:
            raise RuntimeError(f"{client} -> {server} failed: "
                               f"{done.stdout.decode()[-500:]} {done.stderr.decode()[-500:]}")
    finally:
        process.terminate()
        process.wait(timeout=30)
    stored = sum(1 for p in out.rglob("*") if p.is_file() and (p.suffix == ".dcm"
                                                                 or p.name.startswith("CT")))
    if stored < count:
        raise RuntimeError(f"{client} -> {server}: {stored} of {count} files on disk")
    shutil.rmtree(out, ignore_errors=True)
    return elapsed, peak


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--cold", action="store_true",
                        help="drop the page cache before every run (needs root, Linux)")
    parser.add_argument("--baseline", metavar="DIR",
                        help="also run dicomnet from this checkout (its dicomnet/ package)")
    args = parser.parse_args()
    if args.baseline:
        if not (Path(args.baseline) / "dicomnet" / "__init__.py").is_file():
            parser.error(f"--baseline {args.baseline}: no dicomnet/ package there")
        BASELINE["dir"] = str(Path(args.baseline).resolve())
    if args.cold:
        try:
            drop_page_cache()
        except OSError as exc:
            parser.error(f"--cold cannot drop the page cache: {exc}")
    for tool in ("storescu", "storescp"):
        dcmtk(tool)  # before any work: exits if DCMTK is missing
    pairs: list[tuple[str, str, str]] = [
        ("storescu", "storescp", "DCMTK -> DCMTK"),
        ("storescu", "dicomnet", "DCMTK -> dicomnet serve"),
        ("dicomnet", "storescp", "dicomnet store -> DCMTK"),
        ("dicomnet", "dicomnet", "dicomnet -> dicomnet"),
        ("pynetdicom", "pynetdicom", "pynetdicom -> pynetdicom"),
    ]
    if BASELINE:
        pairs += [("storescu", "baseline", "DCMTK -> baseline serve"),
                  ("baseline", "storescp", "baseline store -> DCMTK"),
                  ("baseline", "baseline", "baseline -> baseline")]
    # An installed package has its bytecode compiled at install time; an editable
    # checkout (and PYTHONDONTWRITEBYTECODE=1) would compile dicomnet at every start.
    import dicomnet

    compileall.compile_dir(Path(dicomnet.__file__).parent, quiet=1)
    if BASELINE:
        compileall.compile_dir(Path(BASELINE["dir"]) / "dicomnet", quiet=1)
    with tempfile.TemporaryDirectory(prefix="dicomnet-bench-") as tmp:
        work = Path(tmp)
        images = work / "images"
        images.mkdir()
        make_images(images, args.images)
        size = sum(p.stat().st_size for p in images.iterdir()) / 1e6
        print(f"{args.images} images, {size:.0f} MB, best of {args.rounds} rounds"
              + (", page cache dropped before each run" if args.cold else "") + "\n")
        results: dict[str, tuple[float, int]] = {label: (float("inf"), 0)
                                                 for _c, _s, label in pairs}
        times: dict[str, list[float]] = {label: [] for _c, _s, label in pairs}
        # Rounds interleave the pairings, so a slow moment of the machine hits all of
        # them alike; each pairing keeps its best time.
        for attempt in range(args.rounds):
            for client, server, label in pairs:
                seconds, rss = run_once(client, server, images, args.images, work=work,
                                        attempt=attempt, cold=args.cold)
                best, most = results[label]
                results[label] = (min(best, seconds), max(most, rss))
                times[label].append(seconds)
        reference = args.images / results["DCMTK -> DCMTK"][0]
        pynet = args.images / results["pynetdicom -> pynetdicom"][0]
        typical = args.images / statistics.median(times["DCMTK -> DCMTK"])
        print(f"{'pairing':28} {'images/s':>9} {'MB/s':>7} {'vs DCMTK':>9} "
              f"{'vs pynetdicom':>14} {'median ratio':>13} {'server peak RSS':>16}")
        ratios: dict[str, tuple[float, float, float]] = {}
        for label, (seconds, rss) in results.items():
            rate = args.images / seconds
            # The medians' ratio: less flattering to whoever had one lucky round.
            median_ratio = args.images / statistics.median(times[label]) / typical
            ratios[label] = (rate / reference, median_ratio, rate / pynet)
            print(f"{label:28} {rate:9.1f} {size / seconds:7.1f} {rate / reference:9.2f} "
                  f"{rate / pynet:14.2f} {median_ratio:13.2f} {rss / 1024:13.1f} MiB")
        print()
        for role, label in (("server", "DCMTK -> dicomnet serve"),
                            ("client", "dicomnet store -> DCMTK")):
            best, median, over_pynet = ratios[label]
            met = min(best, median) >= 1.0 and over_pynet >= 3.0
            # Issue #3's target, stated for 500 images: with a few images the client's
            # start-up (~100 ms against storescu's ~30) decides the ratio.
            print(f"target as {role}, {args.images} images (>= DCMTK on best and median, "
                  f">= 3x pynetdicom): "
                  f"{'met' if met else 'NOT met'} ({best:.2f} / {median:.2f} / "
                  f"{over_pynet:.1f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
