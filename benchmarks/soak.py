"""A bounded soak: `dicomnet serve` under steady C-STORE/C-ECHO/C-FIND load for a few
minutes, reporting throughput and resident memory over time (growth = a leak).

    .venv/bin/python benchmarks/soak.py [--minutes 3] [--clients 4]

Each client loops: open an association, store 20 small instances (new UIDs each time),
C-ECHO, C-FIND one of them, release. Every 10 s the server's VmRSS and the instances
stored so far are printed. Exits 1 if RSS in the last third is more than 20 % above the
first third's. Loops are bounded by the time limit.
"""

from __future__ import annotations

import argparse
import copy
import subprocess
import sys
import tempfile

import anyio
import pydicom
from common import free_port, memory_kib, wait_for
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

import dicomnet
from dicomnet.services import query_retrieve as qr
from dicomnet.services.storage import contexts_for


async def soak(port: int, pid: int, seconds: float, clients: int) -> list[float]:
    template = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    contexts = [*contexts_for([template]), qr.STUDY_ROOT_FIND, "1.2.840.10008.1.1"]
    stored = 0
    samples: list[float] = []
    deadline = anyio.current_time() + seconds

    async def client() -> None:
        nonlocal stored
        # A deep copy each: pydicom's shallow copies share their elements, and
        # concurrent clients would rename each other's instances.
        mine = copy.deepcopy(template)
        while anyio.current_time() < deadline:
            async with dicomnet.connect("127.0.0.1", port, called_ae="DICOMNET",
                                        contexts=contexts) as assoc:
                uid = ""
                for _ in range(20):
                    mine.SOPInstanceUID = uid = generate_uid()
                    status = await assoc.store(mine)
                    assert status == 0, hex(status)
                    stored += 1
                assert await assoc.echo() == 0
                query = pydicom.Dataset()
                query.QueryRetrieveLevel = "IMAGE"
                query.StudyInstanceUID = mine.StudyInstanceUID
                query.SeriesInstanceUID = mine.SeriesInstanceUID
                query.SOPInstanceUID = uid
                found = [r async for r in qr.find(assoc, query)]
                assert len(found) == 2, found

    async def monitor() -> None:
        started = anyio.current_time()
        while anyio.current_time() < deadline:
            await anyio.sleep(10)
            memory = memory_kib(pid) / 1024
            samples.append(memory)
            elapsed = anyio.current_time() - started
            print(f"{elapsed:6.0f} s  {stored:7d} stored  {stored / elapsed:7.1f}/s  "
                  f"RSS {memory:6.1f} MiB", flush=True)

    async with anyio.create_task_group() as tg:
        tg.start_soon(monitor)
        for _ in range(clients):
            tg.start_soon(client)
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory() as data:
        server = subprocess.Popen([sys.executable, "-m", "dicomnet", "serve", "--port",
                                   str(port), "-q", "--data", data])
        try:
            wait_for(port, server)
            samples = anyio.run(soak, port, server.pid, args.minutes * 60, args.clients)
        finally:
            server.terminate()
            server.wait(timeout=30)
    if len(samples) < 3:
        print("too short to judge growth")
        return 0
    third = max(1, len(samples) // 3)
    first, last = sum(samples[:third]) / third, sum(samples[-third:]) / third
    print(f"RSS first third {first:.1f} MiB, last third {last:.1f} MiB")
    return 0 if last <= first * 1.2 else 1


if __name__ == "__main__":
    sys.exit(main())
