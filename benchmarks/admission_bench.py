"""C-ECHO latency and server memory while N silent TCP connections are held open:
`dicomnet serve` and DCMTK's storescp side by side.

    .venv/bin/python benchmarks/admission_bench.py [--silent 0,200,1000] [--echoes 200]

For each N the benchmark opens N TCP connections to the server that never send a byte
(from 127.0.0.2 and up, at most 16 per address, so dicomnet's per-address bound is not
what is measured), holds them, and times from this process with dicomnet's client:

- ``fresh``: ``--echoes`` times connect, A-ASSOCIATE, C-ECHO, release;
- ``within``: ``--echoes`` C-ECHOs on one association.

It reads the servers' memory (proportional set size, Pss, so that storescp's forked
children are counted fairly: pages they share with their parent count once) before the
silent connections are opened, while they are held, and 2 s after they are closed.

The peers: ``dicomnet serve --no-store`` with ``--associate-deadline 300`` (so the
silent connections are held for the whole measurement, not cut after the default 10 s;
what is measured is what holding them costs), its other admission settings at their
defaults (so with N above ``--max-pending``, 256, it closes the oldest and keeps 256);
DCMTK's ``storescp --fork`` (one child process per connection, forked at the accept,
which is how storescp serves more than one peer at a time) with ``--acse-timeout 300``
for the same reason, and ``TCP_NODELAY=1``. Without ``--fork`` storescp serves one
connection at a time, so one silent socket keeps every peer out for its ACSE timeout;
the benchmark shows that too, with one silent socket.
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import anyio
from common import dcmtk, free_port, memory_kib, wait_for

import dicomnet
from dicomnet.config import Timeouts

ENV = {**os.environ, "TCP_NODELAY": "1"}
PER_ADDRESS = 16


def pss_kib(pid: int) -> int:
    """Proportional set size of ``pid`` and all its descendants, in KiB (0 if gone)."""
    total = 0
    for process in [pid, *_descendants(pid)]:
        try:
            with open(f"/proc/{process}/smaps_rollup") as rollup:
                for line in rollup:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            pass
    return total


def rss_kib(pid: int) -> int:
    """Resident set size of ``pid`` and all its descendants, in KiB: what `ps` and
    `top` show (pages shared between storescp's children count once per child)."""
    return sum(memory_kib(process) for process in [pid, *_descendants(pid)])


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def open_silent(port: int, count: int) -> list[socket.socket]:
    sockets = []
    for index in range(count):
        sock = socket.socket()
        sock.bind((f"127.0.{2 + index // PER_ADDRESS // 250}."
                   f"{2 + index // PER_ADDRESS % 250}", 0))
        sock.connect(("127.0.0.1", port))
        sockets.append(sock)
    return sockets


def still_open(sockets: list[socket.socket]) -> int:
    held = 0
    for sock in sockets:
        sock.setblocking(False)
        try:
            held += sock.recv(1) != b""
        except BlockingIOError:
            held += 1
        except OSError:
            pass
    return held


async def echo_latencies(port: int, called: str, count: int) -> tuple[list[float], list[float]]:
    """Seconds per echo: each on a fresh association, then all on one."""
    timeouts = Timeouts(connect=30, acse=30, network=60)
    fresh = []
    for _ in range(count):
        start = time.perf_counter()
        async with dicomnet.connect("127.0.0.1", port, called_ae=called,
                                    timeouts=timeouts) as assoc:
            assert await assoc.echo() == 0
        fresh.append(time.perf_counter() - start)
    within = []
    async with dicomnet.connect("127.0.0.1", port, called_ae=called,
                                timeouts=timeouts) as assoc:
        for _ in range(count):
            start = time.perf_counter()
            assert await assoc.echo() == 0
            within.append(time.perf_counter() - start)
    return fresh, within


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def measure(name: str, start: Callable[[int, str], subprocess.Popen[bytes]], called: str,
            silent_counts: list[int], echoes: int) -> dict[int, dict[str, float]]:
    results: dict[int, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as data:
        port = free_port()
        server = start(port, data)
        try:
            wait_for(port, server)
            anyio.run(echo_latencies, port, called, 5)  # warm up
            for count in silent_counts:
                before, rss_before = pss_kib(server.pid), rss_kib(server.pid)
                sockets = open_silent(port, count)
                time.sleep(1.0 + count / 500)  # let the server accept them all
                during, rss_during = pss_kib(server.pid), rss_kib(server.pid)
                fresh, within = anyio.run(echo_latencies, port, called, echoes)
                held = still_open(sockets)
                for sock in sockets:
                    sock.close()
                time.sleep(2.0)
                after, rss_after = pss_kib(server.pid), rss_kib(server.pid)
                results[count] = {
                    "fresh_p50": percentile(fresh, 0.5), "fresh_p99": percentile(fresh, 0.99),
                    "within_p50": percentile(within, 0.5),
                    "within_p99": percentile(within, 0.99),
                    "before": before, "during": during, "after": after, "held": held,
                    "rss_before": rss_before, "rss_during": rss_during,
                    "rss_after": rss_after}
                row = results[count]
                print(f"{name:9} N={count:5} held {held:5}: fresh p50 "
                      f"{row['fresh_p50'] * 1e3:6.2f} ms p99 {row['fresh_p99'] * 1e3:6.2f} ms; "
                      f"within p50 {row['within_p50'] * 1e3:5.2f} ms p99 "
                      f"{row['within_p99'] * 1e3:5.2f} ms; Pss {before / 1024:.1f} -> "
                      f"{during / 1024:.1f} -> {after / 1024:.1f} MiB; RSS "
                      f"{rss_before / 1024:.1f} -> {rss_during / 1024:.1f} -> "
                      f"{rss_after / 1024:.1f} MiB", flush=True)
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    return results


def storescp_without_fork() -> float:
    """Seconds echoscu waits behind one silent socket on a storescp without --fork
    (ACSE timeout 5 s)."""
    with tempfile.TemporaryDirectory() as data:
        for _attempt in range(3):  # a port freed a moment ago may be taken again
            port = free_port()
            server = subprocess.Popen([dcmtk("storescp"), "-ta", "5", "-od", data,
                                       str(port)], env=ENV, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
            try:
                wait_for(port, server)
                break
            except RuntimeError:
                continue
        try:
            time.sleep(0.5)
            with socket.create_connection(("127.0.0.1", port)):
                time.sleep(0.2)
                start = time.perf_counter()
                subprocess.run([dcmtk("echoscu"), "-to", "30", "-aec", "STORESCP",
                                "127.0.0.1", str(port)], env=ENV, check=True,
                               capture_output=True, timeout=60)
                return time.perf_counter() - start
        finally:
            server.terminate()
            server.wait(timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--silent", default="0,200,1000",
                        help="comma-separated numbers of silent connections")
    parser.add_argument("--echoes", type=int, default=200)
    args = parser.parse_args()
    counts = [int(n) for n in args.silent.split(",")]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 2 * max(counts) + 256  # our sockets, plus the servers' (inherited limit)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))

    def dicomnet_serve(port: int, data: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "dicomnet", "serve", "--port", str(port), "-q",
             "--no-store", "--data", data, "--associate-deadline", "300"],
            cwd=Path(data))

    def storescp(port: int, data: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen([dcmtk("storescp"), "--fork", "-ta", "300", "-od", data,
                                 str(port)], env=ENV, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)

    ours = measure("dicomnet", dicomnet_serve, "DICOMNET", counts, args.echoes)
    theirs = measure("storescp", storescp, "STORESCP", counts, args.echoes)
    print()
    print("ratios dicomnet / storescp --fork (below 1: dicomnet faster or smaller)")
    for count in counts:
        a, b = ours[count], theirs[count]
        print(f"N={count:5}: fresh p50 {a['fresh_p50'] / b['fresh_p50']:.2f} p99 "
              f"{a['fresh_p99'] / b['fresh_p99']:.2f}; within p50 "
              f"{a['within_p50'] / b['within_p50']:.2f} p99 "
              f"{a['within_p99'] / b['within_p99']:.2f}; memory while held "
              f"{a['during'] / b['during']:.2f}")
    waited = storescp_without_fork()
    print(f"storescp without --fork, one silent socket held: echoscu waited {waited:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
