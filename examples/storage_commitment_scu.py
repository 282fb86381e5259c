"""Ask a peer to commit the storage of some files (Storage Commitment Push Model,
PS3.4 Annex J) and print its report, received on the same association.

    python examples/storage_commitment_scu.py HOST PORT FILE... [--aec AET] [--aet AET]

Exits 0 when every instance was committed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys

import anyio

import dicomnet
from dicomnet.services import commitment


async def main(args: argparse.Namespace) -> int:
    results = commitment.CommitmentResults()
    async with dicomnet.connect(args.host, args.port, called_ae=args.aec,
                                calling_ae=args.aet,
                                contexts=[commitment.STORAGE_COMMITMENT_PUSH],
                                on_request=results.on_request) as assoc:
        transaction = await assoc.request_commitment(args.files)
        print(f"requested commitment of {len(args.files)} instance(s): {transaction}")
        with anyio.fail_after(args.timeout):
            result = await results.wait(transaction)
    for ref in result.committed:
        print(f"committed {ref.sop_instance_uid}")
    for failed in result.failed:
        print(f"failed    {failed.sop_instance_uid} (reason 0x{failed.reason:04X})")
    return 0 if result.all_committed else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("files", nargs="+", help="Part 10 files already sent to the peer")
    parser.add_argument("--aec", default="ANY-SCP", help="called AE title")
    parser.add_argument("--aet", default="COMMITSCU", help="our AE title")
    parser.add_argument("--timeout", type=float, default=30.0,
                        help="seconds to wait for the report (default 30)")
    sys.exit(anyio.run(main, parser.parse_args()))
