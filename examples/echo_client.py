"""Verify a DICOM peer with C-ECHO.

    python examples/echo_client.py HOST PORT [CALLED_AE]
"""

from __future__ import annotations

import sys

import anyio

import dicomnet


async def main(host: str, port: int, called_ae: str) -> int:
    async with dicomnet.connect(host, port, called_ae=called_ae) as assoc:
        status = await assoc.echo()
    print(f"C-ECHO status 0x{status:04X}")
    return 0 if status == dicomnet.Status.SUCCESS else 1


if __name__ == "__main__":
    host, port = sys.argv[1], int(sys.argv[2])
    called = sys.argv[3] if len(sys.argv) > 3 else "ANY-SCP"
    sys.exit(anyio.run(main, host, port, called))
