"""C-ECHO latency in one association, DCMTK and dicomnet side by side on 127.0.0.1.

    .venv/bin/python benchmarks/echo_bench.py [--echoes 2000] [--rounds 5] [--baseline DIR]
                                              [--stores 0]

Each pairing sends ``--echoes`` C-ECHO requests on one association (``echoscu --repeat``,
``dicomnet echo --repeat``), and once a single one; the difference of the two client
wall times, divided by the echoes between them, is the time per echo with the start-up
and the association set-up taken out. Pairings (client -> server):

    echoscu -> storescp          (the reference: ratios are to this)
    echoscu -> dicomnet serve    (dicomnet as server)
    dicomnet echo -> storescp    (dicomnet as client)
    dicomnet echo -> dicomnet serve
    echoscu -> asyncio floor     (echo_floor.py: canned answers from one asyncio
                                  Protocol, the lower bound of any server on asyncio)
    echoscu -> uvloop floor      (the same on uvloop's event loop; only where uvloop
                                  is installed: pip install -e '.[bench]')

``--stores N`` adds the same measure for small C-STOREs: ``storescu`` sends N small
CT instances (pydicom's CT_small.dcm, each with its own UIDs) in one association to
storescp (``-od``: files written) and to ``dicomnet serve`` (archive: file and index
row), and once a single one; the time per instance is what the server's per-message
work and its storage cost together.

``--baseline DIR`` adds the dicomnet pairings run from another checkout (DIR holds its
``dicomnet/`` package), in the same rounds. Rounds interleave the pairings; the table
gives the best and the median round. DCMTK runs with TCP_NODELAY=1. Every process has
a timeout.
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import dcmtk, free_port, wait_for

PY = sys.executable
TIMEOUT = 300
REFERENCE = "echoscu -> storescp"
STORE_REFERENCE = "storescu -> storescp"


def environment(kind: str, baseline: str | None) -> dict[str, str]:
    import os

    env = {**os.environ, "TCP_NODELAY": "1"}
    if kind == "baseline" and baseline is not None:
        env["PYTHONPATH"] = baseline  # ahead of the installed dicomnet
    return env


def server_command(kind: str, port: int, folder: Path) -> list[str]:
    if kind == "storescp":
        return [dcmtk("storescp"), "-od", str(folder), str(port)]
    if kind in ("floor", "uvloop-floor"):
        return [PY, str(Path(__file__).with_name("echo_floor.py")), str(port),
                *(["--uvloop"] if kind == "uvloop-floor" else [])]
    return [PY, "-m", "dicomnet", "serve", "--port", str(port), "--any-aet", "--data",
            str(folder), "-q"]


def client_command(kind: str, port: int, echoes: int) -> list[str]:
    if kind == "echoscu":
        return [dcmtk("echoscu"), "--repeat", str(echoes), "-aec", "ANY", "127.0.0.1",
                str(port)]
    return [PY, "-m", "dicomnet", "echo", "--repeat", str(echoes), "-aec", "ANY", "-q",
            "127.0.0.1", str(port)]


def timed(command: list[str], env: dict[str, str], cwd: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True,
                          timeout=TIMEOUT, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{command[:2]} failed: {done.stderr.decode()[-500:]}")
    return elapsed


def store_command(port: int, images: Path) -> list[str]:
    return [dcmtk("storescu"), "-aec", "ANY", "+sd", "127.0.0.1", str(port), str(images)]


def make_small_instances(folder: Path, count: int) -> None:
    """``count`` small CT instances (pydicom's test CT, about 40 KB), each its own."""
    import pydicom
    from pydicom.data import get_testdata_file
    from pydicom.uid import generate_uid

    folder.mkdir()
    template = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    for number in range(count):
        template.SOPInstanceUID = generate_uid()
        template.file_meta.MediaStorageSOPInstanceUID = template.SOPInstanceUID
        template.save_as(folder / f"ct{number:05d}.dcm", enforce_file_format=True)


def per_store(server: str, images: tuple[Path, Path, int], work: Path, attempt: int,
              baseline: str | None) -> float:
    """Seconds per small C-STORE (storescu as client), set-up taken out as for echoes."""
    one, many, count = images
    folder = work / f"store-{server}-{attempt}"
    folder.mkdir()
    port = free_port()
    process = subprocess.Popen(server_command(server, port, folder),
                               env=environment(server, baseline), cwd=folder,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(port, process)
        env = environment("storescu", baseline)
        single = timed(store_command(port, one), env, folder)
        several = timed(store_command(port, many), env, folder)
    finally:
        process.terminate()
        process.wait(timeout=30)
    shutil.rmtree(folder, ignore_errors=True)
    return max(several - single, 0.0) / (count - 1)


def per_echo(client: str, server: str, echoes: int, work: Path,
             baseline: str | None) -> float:
    """Seconds per echo of one pairing, start-up and association set-up taken out."""
    folder = work / f"{client}-{server}"
    folder.mkdir(exist_ok=True)
    port = free_port()
    # Not in the checkout: "python -m" puts the working folder first on sys.path.
    process = subprocess.Popen(server_command(server, port, folder),
                               env=environment(server, baseline), cwd=folder,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(port, process)
        env = environment(client, baseline)
        one = timed(client_command(client, port, 1), env, folder)
        many = timed(client_command(client, port, echoes), env, folder)
    finally:
        process.terminate()
        process.wait(timeout=30)
    return max(many - one, 0.0) / (echoes - 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--echoes", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--baseline", metavar="DIR",
                        help="also run dicomnet from this checkout (its dicomnet/ package)")
    parser.add_argument("--stores", type=int, default=0, metavar="N",
                        help="also time N small C-STOREs from storescu (0: none)")
    args = parser.parse_args()
    if args.echoes < 2:
        parser.error("--echoes must be at least 2")
    if args.stores == 1 or args.stores < 0:
        parser.error("--stores must be 0 or at least 2")
    baseline = None
    if args.baseline:
        if not (Path(args.baseline) / "dicomnet" / "__init__.py").is_file():
            parser.error(f"--baseline {args.baseline}: no dicomnet/ package there")
        baseline = str(Path(args.baseline).resolve())
    for tool in ("echoscu", "storescp"):
        dcmtk(tool)
    pairs = [("echoscu", "storescp", REFERENCE),
             ("echoscu", "dicomnet", "echoscu -> dicomnet serve"),
             ("dicomnet", "storescp", "dicomnet echo -> storescp"),
             ("dicomnet", "dicomnet", "dicomnet -> dicomnet"),
             ("echoscu", "floor", "echoscu -> asyncio floor")]
    if importlib.util.find_spec("uvloop") is not None:
        pairs.append(("echoscu", "uvloop-floor", "echoscu -> uvloop floor"))
    else:
        print("uvloop is not installed: no uvloop floor (pip install -e '.[bench]')")
    if baseline:
        pairs += [("echoscu", "baseline", "echoscu -> baseline serve"),
                  ("baseline", "storescp", "baseline echo -> storescp"),
                  ("baseline", "baseline", "baseline -> baseline")]
    times: dict[str, list[float]] = {label: [] for _c, _s, label in pairs}
    stores = [("storescp", STORE_REFERENCE), ("dicomnet", "storescu -> dicomnet serve")]
    if baseline:
        stores.append(("baseline", "storescu -> baseline serve"))
    store_times: dict[str, list[float]] = {label: [] for _s, label in stores}
    with tempfile.TemporaryDirectory(prefix="dicomnet-echo-bench-") as tmp:
        work = Path(tmp)
        if args.stores:
            dcmtk("storescu")
            make_small_instances(work / "many", args.stores)
            (work / "one").mkdir()
            shutil.copy(next((work / "many").iterdir()), work / "one")
        for attempt in range(args.rounds):
            for client, server, label in pairs:
                times[label].append(per_echo(client, server, args.echoes, work, baseline))
            for server, label in stores if args.stores else ():
                store_times[label].append(per_store(
                    server, (work / "one", work / "many", args.stores), work, attempt,
                    baseline))
    print(f"C-ECHO in one association: {args.echoes} echoes, {args.rounds} rounds")
    table(times, REFERENCE)
    if args.stores:
        print(f"\nSmall C-STORE in one association: {args.stores} instances, "
              f"{args.rounds} rounds")
        table(store_times, STORE_REFERENCE)
    return 0


def table(times: dict[str, list[float]], reference: str) -> None:
    print(f"{'pairing':28} {'best us':>8} {'median us':>10} {'best x':>7} {'median x':>9}")
    best_ref = min(times[reference])
    median_ref = statistics.median(times[reference])
    for label, values in times.items():
        best, median = min(values), statistics.median(values)
        # Ratios as speed (reference time / this time): above 1 is faster than DCMTK.
        print(f"{label:28} {best * 1e6:8.1f} {median * 1e6:10.1f} "
              f"{best_ref / best:7.2f} {median_ref / median:9.2f}")


if __name__ == "__main__":
    sys.exit(main())
