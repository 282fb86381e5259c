"""Resident memory of `dicomnet serve` per idle association.

    .venv/bin/python benchmarks/idle_memory.py [--associations 200]

Opens N associations from one client process and keeps them idle, then reads the
server's resident set (VmRSS) before and after; prints the growth per association.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time

import anyio
from common import free_port, memory_kib, wait_for

import dicomnet
from dicomnet.config import Timeouts


async def hold(port: int, count: int, pid: int) -> tuple[int, int]:
    before = memory_kib(pid)
    async with anyio.create_task_group() as tg:
        opened = anyio.Event()
        ready = 0

        async def one() -> None:
            nonlocal ready
            async with dicomnet.connect("127.0.0.1", port, called_ae="DICOMNET",
                                        timeouts=Timeouts(network=600)) as assoc:
                assert await assoc.echo() == 0
                ready += 1
                if ready == count:
                    opened.set()
                await anyio.sleep(3600)

        for _ in range(count):
            tg.start_soon(one)
        with anyio.fail_after(120):
            await opened.wait()
        await anyio.sleep(1)
        after = memory_kib(pid)
        tg.cancel_scope.cancel()
    return before, after


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--associations", type=int, default=200)
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory() as data:
        server = subprocess.Popen(
            [sys.executable, "-m", "dicomnet", "serve", "--port", str(port), "-q",
             "--data", data, "--max-associations", str(args.associations + 10)])
        try:
            wait_for(port, server)
            time.sleep(0.5)
            before, after = anyio.run(hold, port, args.associations, server.pid)
        finally:
            server.terminate()
            server.wait(timeout=30)
    per = (after - before) / args.associations
    print(f"{args.associations} idle associations: server RSS {before / 1024:.1f} MiB -> "
          f"{after / 1024:.1f} MiB, {per:.1f} KiB per association")
    return 0


if __name__ == "__main__":
    sys.exit(main())
