"""C-ECHO latency in one association, DCMTK and dicomnet side by side on 127.0.0.1.

    .venv/bin/python benchmarks/echo_bench.py [--echoes 2000] [--rounds 5] [--baseline DIR]

Each pairing sends ``--echoes`` C-ECHO requests on one association (``echoscu --repeat``,
``dicomnet echo --repeat``), and once a single one; the difference of the two client
wall times, divided by the echoes between them, is the time per echo with the start-up
and the association set-up taken out. Pairings (client -> server):

    echoscu -> storescp          (the reference: ratios are to this)
    echoscu -> dicomnet serve    (dicomnet as server)
    dicomnet echo -> storescp    (dicomnet as client)
    dicomnet echo -> dicomnet serve

``--baseline DIR`` adds the dicomnet pairings run from another checkout (DIR holds its
``dicomnet/`` package), in the same rounds. Rounds interleave the pairings; the table
gives the best and the median round. DCMTK runs with TCP_NODELAY=1. Every process has
a timeout.
"""

from __future__ import annotations

import argparse
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


def environment(kind: str, baseline: str | None) -> dict[str, str]:
    import os

    env = {**os.environ, "TCP_NODELAY": "1"}
    if kind == "baseline" and baseline is not None:
        env["PYTHONPATH"] = baseline  # ahead of the installed dicomnet
    return env


def server_command(kind: str, port: int, folder: Path) -> list[str]:
    if kind == "storescp":
        return [dcmtk("storescp"), "-od", str(folder), str(port)]
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
    args = parser.parse_args()
    if args.echoes < 2:
        parser.error("--echoes must be at least 2")
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
             ("dicomnet", "dicomnet", "dicomnet -> dicomnet")]
    if baseline:
        pairs += [("echoscu", "baseline", "echoscu -> baseline serve"),
                  ("baseline", "storescp", "baseline echo -> storescp"),
                  ("baseline", "baseline", "baseline -> baseline")]
    times: dict[str, list[float]] = {label: [] for _c, _s, label in pairs}
    with tempfile.TemporaryDirectory(prefix="dicomnet-echo-bench-") as tmp:
        for _round in range(args.rounds):
            for client, server, label in pairs:
                times[label].append(per_echo(client, server, args.echoes, Path(tmp),
                                             baseline))
    print(f"C-ECHO in one association: {args.echoes} echoes, {args.rounds} rounds")
    print(f"{'pairing':28} {'best us':>8} {'median us':>10} {'best x':>7} {'median x':>9}")
    best_ref = min(times[REFERENCE])
    median_ref = statistics.median(times[REFERENCE])
    for label, values in times.items():
        best, median = min(values), statistics.median(values)
        # Ratios as speed (reference time / this time): above 1 is faster than DCMTK.
        print(f"{label:28} {best * 1e6:8.1f} {median * 1e6:10.1f} "
              f"{best_ref / best:7.2f} {median_ref / median:9.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
