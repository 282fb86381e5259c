"""A DICOM server over mutual TLS that knows who is calling.

Serves C-ECHO and C-STORE over TLS (PS3.15 BCP 195 profile), demanding a client
certificate signed by the CA in PKI_DIR (created with ``dicomnet tls init PKI_DIR`` if it
does not exist yet), and prints the certificate subject of each caller with what it
sent. Received data sets are not kept.

    python examples/tls_server.py PKI_DIR [--port 11113]

Try it with DCMTK or dicomnet as the client:

    echoscu +tls PKI_DIR/client.key PKI_DIR/client.pem +cf PKI_DIR/ca.pem \\
        -aec TLSSCP localhost 11113
    dicomnet store --tls-ca PKI_DIR/ca.pem --tls-cert PKI_DIR/client.pem \\
        --tls-key PKI_DIR/client.key -aec TLSSCP localhost 11113 some.dcm
"""

from __future__ import annotations

import argparse
import contextlib
from functools import partial
from pathlib import Path

import anyio

import dicomnet
from dicomnet.tls import create_test_pki, server_context


def make_server() -> dicomnet.Server:
    server = dicomnet.Server("TLSSCP")

    @server.on_echo()
    async def echo(request: dicomnet.IncomingRequest) -> int:
        print(f"C-ECHO from {request.association.peer_certificate_subject}", flush=True)
        return dicomnet.Status.SUCCESS

    @server.on_store()
    async def store(request: dicomnet.IncomingRequest) -> int:
        dataset = request.dataset
        uid = dataset.SOPInstanceUID if dataset is not None else "?"
        print(f"C-STORE {uid} from {request.association.peer_certificate_subject}",
              flush=True)
        return dicomnet.Status.SUCCESS

    return server


async def main(pki_dir: Path, port: int) -> None:
    if not (pki_dir / "ca.pem").exists():
        create_test_pki(pki_dir)
    tls = server_context(pki_dir / "server.pem", pki_dir / "server.key",
                         cafile=pki_dir / "ca.pem")
    server = make_server()
    async with anyio.create_task_group() as tg:
        bound = await tg.start(partial(server.serve, "127.0.0.1", port, ssl=tls))
        print(f"TLSSCP listening on 127.0.0.1:{bound} (mutual TLS)", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pki_dir", type=Path, help="folder of ca.pem, server.pem/.key")
    parser.add_argument("--port", type=int, default=11113)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        anyio.run(main, args.pki_dir, args.port)
