"""A storage SCP two ways: decode each data set, or stream it to disk undecoded.

    python examples/store_scp.py FOLDER [--port 11112] [--aet STORESCP] [--sink]

Without ``--sink`` the C-STORE handler reads ``request.dataset`` (pydicom decodes the
received bytes on first use), prints who the instance belongs to and saves it with
pydicom. With ``--sink`` the data set is never decoded: each fragment is appended to a
file as it arrives off the network (constant memory, whatever the size), the handler
only renames the finished file. This is how ``dicomnet serve`` files instances.

Try it with ``storescu -aec STORESCP 127.0.0.1 11112 image.dcm`` or
``dicomnet store -aec STORESCP 127.0.0.1 11112 image.dcm``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import anyio

import dicomnet
from dicomnet.acse import AcceptedContext
from dicomnet.dimse import CStoreRQ, DIMSEMessage
from dicomnet.part10 import file_meta_bytes


def decoding_server(ae_title: str, folder: Path) -> dicomnet.Server:
    server = dicomnet.Server(ae_title)

    @server.on_store()  # every storage SOP class, every transfer syntax pydicom knows
    async def on_store(request: dicomnet.IncomingRequest) -> int:
        ds = request.dataset  # decoded here, on first use
        assert ds is not None
        print(f"received {ds.SOPInstanceUID} of patient {ds.PatientName}", flush=True)
        ds.save_as(folder / f"{ds.SOPInstanceUID}.dcm", enforce_file_format=True)
        return dicomnet.Status.SUCCESS

    return server


class PartFile:
    """A dicomnet.dataset_io.DatasetSink: a Part 10 file written as fragments arrive."""

    def __init__(self, path: Path, header: bytes) -> None:
        self.path = path
        self.partial = path.with_suffix(".part")
        self.file = open(self.partial, "wb")  # noqa: SIM115 - closed by close/discard
        self.file.write(header)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.file.write(data)

    def close(self) -> None:  # the last fragment is in
        self.file.close()

    def discard(self) -> None:  # the data set will never be whole (abort, too large...)
        self.file.close()
        self.partial.unlink(missing_ok=True)


def streaming_server(ae_title: str, folder: Path) -> dicomnet.Server:
    server = dicomnet.Server(ae_title)

    def open_sink(association: dicomnet.Association, context: AcceptedContext,
                  message: DIMSEMessage) -> PartFile | None:
        # Called when a request's command has arrived, before its data set.
        if not isinstance(message, CStoreRQ):
            return None  # keep other data sets in memory
        header = file_meta_bytes(sop_class_uid=message.affected_sop_class_uid,
                                 sop_instance_uid=message.affected_sop_instance_uid,
                                 transfer_syntax=context.transfer_syntax,
                                 source_ae_title=association.calling_ae_title)
        path = folder / f"{message.affected_sop_instance_uid}.dcm"
        return PartFile(path, header)

    @server.on_store(sink=open_sink)
    async def on_store(request: dicomnet.IncomingRequest) -> int:
        if request.sink_error is not None:  # writing failed: nothing was kept
            return 0xA700  # Refused: Out of Resources
        sink = request.sink
        assert isinstance(sink, PartFile)
        os.replace(sink.partial, sink.path)  # whole files only, under their final name
        print(f"received {sink.path.name} (not decoded)", flush=True)
        return dicomnet.Status.SUCCESS

    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="where received files go")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=11112)
    parser.add_argument("--aet", default="STORESCP", help="our AE title (default STORESCP)")
    parser.add_argument("--sink", action="store_true",
                        help="stream data sets to disk without decoding them")
    args = parser.parse_args()
    args.folder.mkdir(parents=True, exist_ok=True)
    build = streaming_server if args.sink else decoding_server
    anyio.run(build(args.aet, args.folder).serve, args.host, args.port)


if __name__ == "__main__":
    main()
