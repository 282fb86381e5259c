"""A storage SCP that forwards every instance it receives to another AE.

    python examples/forwarding_scp.py LISTEN_PORT DEST_HOST DEST_PORT DEST_AE

Each C-STORE is answered with the status the destination gave, so the sender learns
whether the instance really arrived. One association to the destination per instance
keeps the example short; a real forwarder would keep one open.
"""

from __future__ import annotations

import sys

import anyio

import dicomnet
from dicomnet.dimse import CStoreRQ


def build_server(dest_host: str, dest_port: int, dest_ae: str) -> dicomnet.Server:
    server = dicomnet.Server("FORWARDER", require_called_ae_title=False)

    @server.on_store()
    async def forward(request: dicomnet.IncomingRequest) -> int:
        message = request.message
        assert isinstance(message, CStoreRQ)
        context = (message.affected_sop_class_uid, [request.context.transfer_syntax])
        async with dicomnet.connect(dest_host, dest_port, called_ae=dest_ae,
                                    calling_ae="FORWARDER", contexts=[context]) as out:
            assert request.dataset is not None  # decoded here, re-encoded by store()
            return await out.store(request.dataset)

    return server


async def main(port: int, dest_host: str, dest_port: int, dest_ae: str) -> None:
    await build_server(dest_host, dest_port, dest_ae).serve("127.0.0.1", port)


if __name__ == "__main__":
    anyio.run(main, int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4])
