"""dicomnet on trio: C-ECHO a peer over several associations at once.

    python examples/trio_echo.py HOST PORT [--aec AET] [--associations N]

dicomnet is written against anyio, so the same code runs under ``trio.run`` as under
``asyncio.run``: no adapter, no thread. This program opens N associations concurrently
in a trio nursery, sends one C-ECHO on each, and exits 0 when every echo succeeded.
"""

from __future__ import annotations

import argparse
import sys

import trio

import dicomnet


async def echo_once(host: str, port: int, called_ae: str, results: list[int]) -> None:
    async with dicomnet.connect(host, port, called_ae=called_ae,
                                calling_ae="TRIOECHO") as assoc:
        results.append(await assoc.echo())


async def main(host: str, port: int, called_ae: str, associations: int) -> int:
    results: list[int] = []
    async with trio.open_nursery() as nursery:
        for _ in range(associations):
            nursery.start_soon(echo_once, host, port, called_ae, results)
    failed = [status for status in results if status != dicomnet.Status.SUCCESS]
    print(f"{len(results) - len(failed)} of {associations} C-ECHO succeeded (trio)")
    return 1 if failed else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("--aec", default="ANY-SCP", help="the peer's AE title")
    parser.add_argument("--associations", type=int, default=4)
    args = parser.parse_args()
    sys.exit(trio.run(main, args.host, args.port, args.aec, args.associations))
