"""Send files to a PACS over a few long-lived associations: a router's outgoing side.

    python examples/pool_sender.py HOST PORT FILE... [--aec AET] [--max-size N]

An :class:`dicomnet.AssociationPool` keeps up to ``--max-size`` associations to the
peer. Each file is sent by a task of its own through ``pool.run``: the task takes a
free association (or waits for one), C-STOREs the file and gives the association
back for the next file, so the files share a handful of associations instead of
opening one each. An association the peer dropped while idle is replaced, and a
store that failed because the association was gone is tried once more on a new one:
storing the same SOP Instance twice is harmless at a PACS (it keeps one instance per
SOP Instance UID), so the store may be retried even after it went out.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from functools import partial

import anyio

import dicomnet
from dicomnet.errors import DicomNetError
from dicomnet.services.storage import contexts_for


async def store(path: str, assoc: dicomnet.Association) -> int:
    return await assoc.store(path)


async def send_all(host: str, port: int, called_ae: str, paths: Sequence[str],
                   max_size: int) -> dict[str, int | str]:
    results: dict[str, int | str] = {}

    async def send(pool: dicomnet.AssociationPool, path: str) -> None:
        try:
            results[path] = await pool.run(partial(store, path), retry=1,
                                           idempotent=True)
        except (DicomNetError, OSError) as exc:
            results[path] = f"not sent: {exc}"

    async with dicomnet.AssociationPool(host, port, called_ae=called_ae,
                                        calling_ae="POOLSENDER",
                                        contexts=contexts_for(paths),
                                        max_size=max_size, idle_timeout=30) as pool, \
            anyio.create_task_group() as tg:
        for path in paths:
            tg.start_soon(send, pool, path)
    print(f"{len(paths)} files over {pool.opened} association(s)")
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("files", nargs="+")
    parser.add_argument("--aec", default="ANY-SCP", help="the peer's AE title")
    parser.add_argument("--max-size", type=int, default=2,
                        help="associations at most (default 2)")
    args = parser.parse_args()
    results = anyio.run(send_all, args.host, args.port, args.aec, args.files,
                        args.max_size)
    for path, result in results.items():
        print(f"{path}: " + (f"0x{result:04X}" if isinstance(result, int) else result))
    return 0 if all(result == dicomnet.Status.SUCCESS for result in results.values()) \
        else 1


if __name__ == "__main__":
    sys.exit(main())
