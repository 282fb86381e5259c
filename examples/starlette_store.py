"""dicomnet inside a web application: HTTP endpoints that C-ECHO and C-STORE.

    python examples/starlette_store.py --peer HOST:PORT [--aec AET] [--http-port 8000]

A Starlette app (FastAPI is built on Starlette; the handlers are the same there) served
by uvicorn on asyncio. dicomnet runs on the application's own event loop, so an HTTP
handler simply awaits a DICOM operation:

- ``GET /echo`` C-ECHOes the peer and returns ``{"status": 0}``;
- ``POST /store`` takes a DICOM Part 10 file as the request body
  (``Content-Type: application/dicom``), C-STOREs it to the peer and returns the status
  and the SOP Instance UID.

Try it (with ``dicomnet serve`` or ``storescp`` listening on 11112)::

    python examples/starlette_store.py --peer 127.0.0.1:11112 --aec DICOMNET &
    curl http://127.0.0.1:8000/echo
    curl --data-binary @image.dcm -H "Content-Type: application/dicom" \\
        http://127.0.0.1:8000/store

Each request opens its own association; a busy service would keep a pool of them.
"""

from __future__ import annotations

import argparse
import io

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import dicomnet
from dicomnet.errors import DicomNetError
from dicomnet.part10 import Part10Error, read_header
from dicomnet.uids import DEFAULT_TRANSFER_SYNTAXES


def build_app(host: str, port: int, called_ae: str) -> Starlette:
    async def echo(_request: Request) -> JSONResponse:
        try:
            async with dicomnet.connect(host, port, called_ae=called_ae,
                                        calling_ae="WEBGATEWAY") as assoc:
                status = await assoc.echo()
        except (DicomNetError, OSError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=502)
        return JSONResponse({"status": status})

    async def store(request: Request) -> JSONResponse:
        body = io.BytesIO(await request.body())
        try:
            header = read_header(body)  # SOP class, instance and transfer syntax only
        except Part10Error as exc:
            return JSONResponse({"error": f"not a DICOM file: {exc}"}, status_code=400)
        # Propose the file's own transfer syntax (sent as it is) and the uncompressed
        # defaults (dicomnet converts an uncompressed data set if the peer wants that).
        contexts = [(header.sop_class_uid, [header.transfer_syntax]),
                    (header.sop_class_uid, list(DEFAULT_TRANSFER_SYNTAXES))]
        try:
            async with dicomnet.connect(host, port, called_ae=called_ae,
                                        calling_ae="WEBGATEWAY", contexts=contexts) as assoc:
                status = await assoc.store(body)  # an open file: streamed from memory
        except (DicomNetError, OSError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=502)
        return JSONResponse({"status": status, "sop_instance_uid": header.sop_instance_uid},
                            status_code=200 if status == dicomnet.Status.SUCCESS else 502)

    return Starlette(routes=[Route("/echo", echo, methods=["GET"]),
                             Route("/store", store, methods=["POST"])])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer", required=True, metavar="HOST:PORT",
                        help="the DICOM peer to echo and store to")
    parser.add_argument("--aec", default="ANY-SCP", help="the peer's AE title")
    parser.add_argument("--http-host", default="127.0.0.1")
    parser.add_argument("--http-port", type=int, default=8000)
    args = parser.parse_args()
    host, _, port = args.peer.rpartition(":")
    app = build_app(host, int(port), args.aec)
    uvicorn.run(app, host=args.http_host, port=args.http_port, log_level="info")


if __name__ == "__main__":
    main()
